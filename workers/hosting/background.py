"""The background research worker that `ask --detach` leaves running (reused while alive)."""

from __future__ import annotations

import os
import subprocess
import sys

from workers.config import Settings


def spawn_background_worker(settings: Settings) -> None:
    """A worker process that outlives this command, logging to DATA_DIR/worker.log."""
    pid_file = settings.data_dir / "worker.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), 0)
            return
        except (OSError, ValueError):
            pass
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "worker.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_file.write_text(str(process.pid))
