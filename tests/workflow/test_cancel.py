"""`cancel` abandons the model call in flight: the session asks for the best answer at once
instead of waiting for a long generation to finish."""

from __future__ import annotations

import asyncio
import json
import time

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.conftest import Stack
from tests.workflow.test_session import QUESTION, answer, ask_json, call, wait_for_turns


async def test_cancel_abandons_a_long_generation(stack: Stack, temporal_address: str) -> None:
    stack.script(QUESTION, [call("search", {"query": ["turing"]}), answer("Best guess: Sutton.")])
    stack.serper.latency = 3  # a gap between turn 1 and turn 2 to slow the model down in
    detached = stack.cli("ask", QUESTION, "--id", "s-abandon", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    worker = stack.spawn_worker()
    try:
        wait_for_turns(stack, 1)  # turn 1 answered, its search in flight
        stack.model.latency = 60  # turn 2 will generate for a minute
        deadline = time.monotonic() + 60
        while stack.model.in_flight < 1:
            assert time.monotonic() < deadline, "turn 2 never reached the model"
            await asyncio.sleep(0.05)
        stack.model.latency = 0  # the best-answer call is quick
        cancelled = stack.cli("cancel", "s-abandon", "--reason", "enough")
        assert cancelled.returncode == 0, cancelled.stderr
        report = ask_json(stack, "--id", "s-abandon", "--no-worker", timeout="50")
        # The session ended while the abandoned generation was still running at the model.
        assert stack.model.in_flight >= 1
    finally:
        worker.terminate()
        worker.wait(20)
    assert report["termination"] == "cancelled"
    assert report["answer"] == "Best guess: Sutton."
    last = stack.model.research_requests()[-1].body["messages"]
    assert last[-1]["content"].startswith("The operator has stopped this research.")
    assert last[-2]["content"].startswith("<tool_response>")  # turn 1's result, then the ask
    client = await Client.connect(temporal_address)
    history = await client.get_workflow_handle("s-abandon").fetch_history()
    kinds = [event.event_type for event in history.events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED in kinds
    shown = json.loads(stack.cli("show", "s-abandon", "--json").stdout)
    thinks = [step["status"] for step in shown["steps"] if step["node"] == "think"]
    # the abandoned call is a finished step; the best-answer call may first have waited out
    # its replica's queue (timed out, then taken from the shared queue)
    assert thinks[:2] == ["completed", "cancelled"] and thinks[-1] == "completed"
    assert not {"scheduled", "running"} & set(thinks)
