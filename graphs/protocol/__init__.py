"""Model dialects: render internal messages into a prompt, parse a completion into actions."""

from graphs.protocol import tongyi

DIALECTS = {"tongyi": tongyi}

__all__ = ["DIALECTS", "tongyi"]
