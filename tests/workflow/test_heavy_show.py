"""`show` of a Heavy session lists its branches (child sessions) among the steps."""

from __future__ import annotations

import json

from tests.conftest import Stack
from tests.workflow.test_heavy import route
from tests.workflow.test_session import QUESTION


def test_show_lists_the_branches_of_a_heavy_session(stack: Stack) -> None:
    stack.model.script_key = route
    stack.model.scripts.update(
        {
            "b0": ["<think>found</think>\n<answer>Barto and Sutton</answer>"],
            # of two branches the second samples at 1.0, which `route` calls "b2"
            "b2": ["<think>guess</think>\n<answer>Geoffrey Hinton</answer>"],
            "report": ["<think>condensing</think>\n<report>## Solution Planning\n...</report>"],
            "integrate": ["<think>weighing</think>\n<answer>Barto and Sutton</answer>"],
        }
    )
    result = stack.cli(
        "ask", QUESTION, "--mode", "heavy", "--branches", "2", "--json", "--id", "s-show"
    )
    assert result.returncode == 0, result.stderr

    shown = stack.cli("show", "s-show", "--json")
    assert shown.returncode == 0, shown.stderr
    timeline = json.loads(shown.stdout)
    assert timeline["status"] == "completed"
    branches = [step for step in timeline["steps"] if step["node"] == "branch"]
    assert [b["session_id"] for b in branches] == ["s-show-b0", "s-show-b1"]
    assert [b["summary"] for b in branches] == ["branch s-show-b0", "branch s-show-b1"]
    assert [b["status"] for b in branches] == ["completed", "completed"]
    assert [b["answer"] for b in branches] == ["Barto and Sutton", "Geoffrey Hinton"]
    assert all(b["termination"] == "answer" and b["duration_s"] >= 0 for b in branches)
    nodes = [step["node"] for step in timeline["steps"]]
    assert nodes[:2] == ["branch", "branch"]  # the branches come before their reports
    assert nodes[2:] == ["report", "report", "integrate"]

    text = stack.cli("show", "s-show")
    assert text.returncode == 0, text.stderr
    assert "branch s-show-b0" in text.stdout and "branch s-show-b1" in text.stdout
    assert "answer: Geoffrey Hinton" in text.stdout

    exported = stack.cli("export", "s-show")  # the reference's format is per trajectory
    assert exported.returncode == 2
    assert exported.stderr.strip() == (
        "error: s-show is a Heavy session: export its branches (s-show-b0, ...)"
    )
    assert stack.cli("export", "s-show-b0").returncode == 0
