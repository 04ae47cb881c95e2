"""`deepresearch worker --processes N`: N supervised worker processes under one command; one
that dies is restarted; SIGTERM stops them all gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import CLI, REPO, Stack
from tests.workflow.test_session import ANSWER, QUESTION, ask_json, four_call_script


def children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def wait_for(predicate: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_worker_processes_are_supervised(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    log = open(stack.data_dir / "supervisor.log", "wb")  # noqa: SIM115
    supervisor = subprocess.Popen(
        [*CLI, "worker", "--processes", "2"],
        env=stack.env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: len(children(supervisor.pid)) == 2)
        first = children(supervisor.pid)
        report = ask_json(stack, "--no-worker")  # served by the supervised processes
        assert report["answer"] == ANSWER

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in children(supervisor.pid))
        wait_for(lambda: len(children(supervisor.pid)) == 2)  # restarted
        assert children(supervisor.pid) - first

        survivors = children(supervisor.pid)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(40) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in survivors)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
        log.close()
    text = (stack.data_dir / "supervisor.log").read_text()
    assert "supervising 2 research worker processes" in text
    assert "restarted" in text and "stopping 2 worker processes" in text
