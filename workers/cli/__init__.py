"""`deepresearch ...`: thin commands over the session layer (`workers.client`)."""

from __future__ import annotations

import logging
import os
import sys

from workers.cli import (  # noqa: F401 - registers the commands
    blobs,
    budget,
    compare,
    demo,
    evaluate,
    inspect,
    mcp,
    plan,
    research,
    schedule,
    serve,
)
from workers.cli.app import app


def main() -> None:
    """Run the CLI, then leave without interpreter teardown: temporalio's Rust runtime threads
    can abort a finalizing interpreter (temporalio/sdk-python#300), turning a finished command
    into a crash."""
    code = 0
    try:
        app()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


__all__ = ["app", "main"]
