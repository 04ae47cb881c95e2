"""The Temporal dev server itself is killed with SIGKILL mid-session and restarted on the same
database: the session completes with the same answer."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, ask_json, four_call_script, wait_for_turns
from workers import devserver


class Server:
    def __init__(self, db: Path) -> None:
        self.db = db
        self.port = devserver.free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            devserver.temporal_binary(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", str(self.port), "--db-filename", str(self.db), "--log-level", "error",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        devserver.wait_for_port(self.port, 30, self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    own = Server(tmp_path / "own.db")
    own.start()
    yield own
    if own.process is not None and own.process.poll() is None:
        own.process.terminate()
        own.process.wait(10)


def test_dev_server_sigkill_and_restart(stack: Stack, server: Server) -> None:
    stack.env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{server.port}"
    stack.script(QUESTION, four_call_script(stack))
    stack.serper.latency = 3  # turn 1's searches are in flight when the server dies
    detached = stack.cli("ask", QUESTION, "--id", "s-server", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    worker = stack.spawn_worker()
    try:
        wait_for_turns(stack, 1)
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
    assert sorted(set(turns)) == [0, 1, 2]
