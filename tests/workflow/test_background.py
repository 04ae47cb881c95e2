"""`ask --detach`'s background worker: reused while its settings hold, restarted when they
change, and visible and stoppable with `worker --status` / `--stop`."""

from __future__ import annotations

import json
import os
import time

from tests.conftest import Stack
from tests.workflow.test_session import QUESTION, call, four_call_script


def _pid(stack: Stack) -> int:
    return int(json.loads((stack.data_dir / "worker.json").read_text())["pid"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return b"worker" in open(f"/proc/{pid}/cmdline", "rb").read()


def test_a_change_of_settings_restarts_the_background_worker(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    first = stack.cli("ask", QUESTION, "--id", "s-bg-1", "--detach")
    assert first.returncode == 0, first.stderr
    pid = _pid(stack)
    try:
        status = stack.cli("worker", "--status")
        assert status.returncode == 0 and f"pid {pid}" in status.stdout
        assert "current settings" in status.stdout
        again = stack.cli("ask", QUESTION, "--id", "s-bg-2", "--detach")
        assert again.returncode == 0 and "restarted" not in again.stderr
        assert _pid(stack) == pid  # same settings: reused

        changed = {"DEEPRESEARCH_MAX_LLM_CALLS": "7"}
        stale = stack.cli("worker", "--status", **changed)
        assert "STALE settings" in stale.stdout
        stack.script("Another question?", [call("search", {"query": ["x"]})])
        third = stack.cli("ask", "Another question?", "--id", "s-bg-3", "--detach", **changed)
        assert third.returncode == 0, third.stderr
        assert "restarted the background worker" in third.stderr
        assert _pid(stack) != pid
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid)  # the stale one was stopped
        pid = _pid(stack)
        # The sessions of both workers finish (the durable sessions moved over).
        for session_id in ("s-bg-1", "s-bg-2"):
            shown = stack.cli("watch", session_id, "--json", timeout=120)
            assert shown.returncode == 0, shown.stderr
    finally:
        stopped = stack.cli("worker", "--stop")
    assert stopped.returncode == 0 and "stopped the background worker" in stopped.stdout
    assert not _alive(pid)
    none = stack.cli("worker", "--status")
    assert none.returncode == 0 and "no background worker runs" in none.stdout
