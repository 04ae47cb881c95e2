"""The background research worker that `ask --detach` leaves running: reused while it runs
with this process's settings, restarted when they changed (a worker on stale settings would
run new sessions on an old search backend or model without a word)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from workers.config import Settings

STATE_FILE = "worker.json"
STOP_SECONDS = 15.0  # graceful shutdown: in-flight activities get 10 s


def fingerprint(settings: Settings) -> str:
    """A digest of every setting, secrets included (only the digest is stored)."""
    values = {
        name: getattr(value, "get_secret_value", lambda v=value: v)() for name, value in settings
    }
    return hashlib.sha256(json.dumps(values, default=str, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class BackgroundWorker:
    """What DATA_DIR/worker.json says of the background worker, checked against the process."""

    pid: int
    fingerprint: str
    started: float
    alive: bool

    def current(self, settings: Settings) -> bool:
        return self.fingerprint == fingerprint(settings)


def _is_our_worker(pid: int) -> bool:
    """The pid runs `workers.cli worker` (not a process that got a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc (macOS): trust a live pid
        except OSError:
            return False
        return True
    return b"workers.cli" in cmdline and b"worker" in cmdline


def status(settings: Settings) -> BackgroundWorker | None:
    """The recorded background worker, or None when none was started here."""
    try:
        state = json.loads((settings.data_dir / STATE_FILE).read_text())
        pid, digest, started = int(state["pid"]), str(state["fingerprint"]), float(state["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return BackgroundWorker(pid, digest, started, _is_our_worker(pid))


def stop(settings: Settings) -> bool:
    """Stop the background worker gracefully (SIGTERM, then SIGKILL); whether one was running."""
    worker = status(settings)
    (settings.data_dir / STATE_FILE).unlink(missing_ok=True)
    if worker is None or not worker.alive:
        return False
    os.kill(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while _is_our_worker(worker.pid) and time.monotonic() < deadline:
        _reap(worker.pid)
        time.sleep(0.1)
    if _is_our_worker(worker.pid):
        os.kill(worker.pid, signal.SIGKILL)
    _reap(worker.pid)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)  # our own child when this process started it
    except ChildProcessError:
        pass


def spawn_background_worker(settings: Settings) -> str:
    """Make sure a background worker with these settings runs (logging to DATA_DIR/worker.log);
    'reused', 'started' or 'restarted' (the running one had other settings)."""
    worker = status(settings)
    if worker is not None and worker.alive and worker.current(settings):
        return "reused"
    restarted = worker is not None and worker.alive
    if restarted:
        stop(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "worker.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    state = {"pid": process.pid, "fingerprint": fingerprint(settings), "started": time.time()}
    (settings.data_dir / STATE_FILE).write_text(json.dumps(state))
    return "restarted" if restarted else "started"
