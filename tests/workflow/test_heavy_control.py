"""Operator control of a Heavy session: a note and a cancel reach every running branch; the
branches give their best answers and the integrator still answers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from graphs import prompts
from tests.conftest import Stack
from tests.fakes.model import message_text
from tests.workflow.test_heavy import route
from tests.workflow.test_session import QUESTION, call

SESSION = "s-heavy-control"
NOTE = "Prefer primary sources"
STOPPED = "The operator has stopped this research."


def control_route(body: dict[str, Any]) -> str | None:
    """A turn answering the cancel prompt gets the 'stopped' script of its branch."""
    key = route(body)
    if key in ("b0", "b2") and STOPPED in message_text(body["messages"][-1]):
        return f"{key}-stopped"
    return key


def wait_for(what: str, ready: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def branch_requests(stack: Stack, branch: str) -> list[dict[str, Any]]:
    return [r.body for r in stack.model.research_requests() if route(r.body) == branch]


def test_steer_and_cancel_reach_every_branch(stack: Stack) -> None:
    searches = [call("search", {"query": [f"lead {k}"]}) for k in range(40)]
    stack.model.script_key = control_route
    stack.model.scripts.update(
        {
            "b0": searches,
            "b2": searches,
            "b0-stopped": ["<think>stopping</think>\n<answer>Barto and Sutton</answer>"],
            "b2-stopped": ["<think>stopping</think>\n<answer>Sutton and Barto</answer>"],
            "report": ["<report>## Solution Planning\n...</report>"],
            "integrate": ["<answer>Andrew Barto and Richard Sutton</answer>"],
        }
    )
    stack.model.latency = 0.3
    worker = stack.spawn_worker()
    try:
        started = stack.cli(
            "ask", QUESTION, "--id", SESSION, "--mode", "heavy", "--branches", "2",
            "--detach", "--no-worker",
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        wait_for("both branches are researching", lambda: all(
            len(branch_requests(stack, b)) >= 2 for b in ("b0", "b2")
        ))  # fmt: skip
        steered = stack.cli("steer", SESSION, NOTE)
        assert steered.returncode == 0, steered.stderr
        note = prompts.STEER_NOTE.format(note=NOTE)
        wait_for("both branches saw the note", lambda: all(
            any(note in message_text(m) for body in branch_requests(stack, b)
                for m in body["messages"])
            for b in ("b0", "b2")
        ))  # fmt: skip
        cancelled = stack.cli("cancel", SESSION, "--reason", "enough")
        assert cancelled.returncode == 0, cancelled.stderr
        result = stack.cli("ask", QUESTION, "--json", "--id", SESSION, "--no-worker", timeout=60)
    finally:
        worker.terminate()
        worker.wait(20)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["answer"] == "Andrew Barto and Richard Sutton"
    assert report["termination"] == prompts.TERMINATION_CANCELLED
    assert report["tool_calls"] < 2 * len(searches)  # the branches stopped early
    for branch in ("b0", "b2"):
        last = branch_requests(stack, branch)[-1]
        assert STOPPED in message_text(last["messages"][-1])  # each gave its best answer
    reports = [r for r in stack.model.research_requests() if route(r.body) == "report"]
    assert len(reports) == 2  # both cancelled branches' answers were integrated
    for branch in ("b0", "b1"):  # session ids count branches; the scripts name temperatures
        listed = stack.cli("show", f"{SESSION}-{branch}", "--json")
        assert listed.returncode == 0, listed.stderr
        shown = json.loads(listed.stdout)
        assert shown["report"]["termination"] == prompts.TERMINATION_CANCELLED
