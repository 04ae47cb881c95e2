"""`deepresearch worker --processes N`: N research worker processes under one command. The
supervisor restarts a process that dies (SIGKILL, out of memory) and, on SIGTERM or SIGINT,
passes SIGTERM on to all of them and waits for their graceful shutdowns."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

STOP_GRACE_SECONDS = 30.0  # a worker's own graceful shutdown takes at most ~10 s
RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)  # a process that keeps dying at start-up
HEALTHY_SECONDS = 30.0  # a process that lived this long restarts without delay
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child (Linux): SIGTERM when the supervisor dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class _Child:
    def __init__(self, index: int, command: list[str]) -> None:
        self.index, self.command = index, command
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.failures = 0
        self.restart_at = 0.0

    def start(self) -> None:
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        self.process = subprocess.Popen(self.command, preexec_fn=preexec)  # noqa: PLW1509
        self.started = time.monotonic()


def supervise(
    commands: Sequence[list[str]],
    log: Callable[[str], None],
    stop: threading.Event | None = None,
    stop_grace: float = STOP_GRACE_SECONDS,
) -> int:
    """Run one process per command until SIGTERM/SIGINT (or `stop`), restarting any that
    exits; then SIGTERM them all and wait up to `stop_grace` seconds (SIGKILL after)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    children = [_Child(index, list(command)) for index, command in enumerate(commands)]
    for child in children:
        child.start()
    pids = ", ".join(str(c.process.pid) for c in children if c.process)
    log(f"supervising {len(children)} research worker processes (pids {pids})")
    while not stop.wait(0.2):
        now = time.monotonic()
        for child in children:
            assert child.process is not None
            code = child.process.poll()
            if code is None or now < child.restart_at:
                continue
            if child.restart_at == 0.0:  # just noticed: schedule the restart
                lived = now - child.started
                child.failures = 0 if lived >= HEALTHY_SECONDS else child.failures + 1
                backoff = RESTART_BACKOFF[min(child.failures, len(RESTART_BACKOFF)) - 1]
                delay = backoff if child.failures else 0.0
                log(
                    f"worker process {child.index} (pid {child.process.pid}) exited with "
                    f"code {code} after {lived:.0f} s; restarting in {delay:.0f} s"
                )
                child.restart_at = now + delay
                if delay:
                    continue
            child.restart_at = 0.0
            child.start()
            log(f"worker process {child.index} restarted (pid {child.process.pid})")
    log(f"stopping {len(children)} worker processes (graceful, up to {stop_grace:.0f} s)")
    running = [c.process for c in children if c.process is not None and c.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + stop_grace
    codes = []
    for process in running:
        try:
            codes.append(process.wait(max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(process.wait())
    return 0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1


def worker_commands(processes: int, metrics_port: int | None, inference: bool) -> list[list[str]]:
    """The `deepresearch worker` command line of each process (metrics on port + index)."""
    base = [sys.executable, "-m", "workers.cli", "worker"]
    if not inference:
        base.append("--no-inference")
    return [
        [*base, *(["--metrics-port", str(metrics_port + i)] if metrics_port is not None else [])]
        for i in range(processes)
    ]


__all__ = ["supervise", "worker_commands"]
