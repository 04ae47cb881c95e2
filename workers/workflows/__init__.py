"""The workflows (a research session, a Heavy session, an evaluation run) and their shared
plumbing: activity options from settings, search attributes, report assembly."""
