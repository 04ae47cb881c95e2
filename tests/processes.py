"""Real processes the tests and benchmarks start, stop and kill: a Temporal dev server."""

from __future__ import annotations

import subprocess
from pathlib import Path

from workers.hosting import devserver


class DevServer:
    """`temporal server start-dev` on a free port and a database file that outlives it."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.port = devserver.free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> DevServer:
        command = [devserver.temporal_binary(), "server", "start-dev", "--headless",
                   "--ip", "127.0.0.1", "--port", str(self.port),
                   "--db-filename", str(self.db), "--log-level", "error"]  # fmt: skip
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.process = subprocess.Popen(command, **quiet)
        devserver.wait_for_port(self.port, 30, self.process)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, as when a machine dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
