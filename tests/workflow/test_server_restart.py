"""The Temporal dev server itself is killed with SIGKILL mid-session and restarted on the same
database: the session completes with the same answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.processes import DevServer
from tests.workflow.test_session import ANSWER, QUESTION, ask_json, four_call_script


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    own = DevServer(tmp_path / "own.db").start()
    yield own
    own.stop()


def test_dev_server_sigkill_and_restart(stack: Stack, server: DevServer) -> None:
    stack.env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{server.port}"
    stack.script(QUESTION, four_call_script(stack))
    stack.serper.latency = 3  # turn 1's searches are in flight when the server dies
    detached = stack.cli("ask", QUESTION, "--id", "s-server", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    worker = stack.spawn_worker()
    try:
        # turn 0 is recorded (its search was scheduled after it) and the search is in flight
        stack.serper.wait_for_requests(1, timeout=60)
        server.kill()
        server.start()  # same database, same port
        stack.serper.latency = 0
        report = ask_json(stack, "--id", "s-server", "--no-worker")
    finally:
        worker.terminate()
        worker.wait(30)
    assert report["answer"] == ANSWER and report["termination"] == "answer"
    assert report["tool_calls"] == 4
    turns = [r.meta["turn"] for r in stack.model.research_requests()]
    assert turns == [0, 1, 2]  # each model turn exactly once, across the server's death
