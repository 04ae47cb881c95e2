"""History stays small: bytes added per step do not grow with the conversation."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.conftest import Stack
from tests.workflow.test_session import answer, ask_json, call

QUESTION = "Who won the 2024 Turing Award and for what?"
STEPS = 50


def per_think_bytes(events: list) -> list[int]:
    """Cumulative history bytes at the completion of each think step."""
    scheduled: dict[int, str] = {}
    marks: list[int] = []
    size = 0
    for event in events:
        size += event.ByteSize()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attrs.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            if scheduled[attrs.scheduled_event_id].endswith(".think"):
                marks.append(size)
    return marks


async def test_history_growth_per_step_is_bounded(stack: Stack, temporal_address: str) -> None:
    turns = [
        call("search", {"query": [f"query number {i}"]}, thought="x" * 400) for i in range(STEPS)
    ]
    stack.script(QUESTION, [*turns, answer()])
    report = ask_json(stack, "--id", "s-history", "--max-llm-calls", str(STEPS + 5))
    assert report["llm_calls"] == STEPS + 1 and report["termination"] == "answer"

    client = await Client.connect(temporal_address)
    history = await client.get_workflow_handle("s-history").fetch_history()
    marks = per_think_bytes(list(history.events))
    early = (marks[10] - marks[0]) / 10
    late = (marks[STEPS] - marks[STEPS - 10]) / 10
    print(
        f"history bytes: {marks[10]} at step 10 ({marks[10] / 10:.0f}/step), "
        f"{marks[STEPS]} at step {STEPS} ({marks[STEPS] / STEPS:.0f}/step); "
        f"added per step: {early:.0f} early, {late:.0f} late"
    )
    # The conversation at step 50 is ~5x the one at step 10; what each step adds must not be.
    assert late < early * 1.3
    assert late < 8_000
