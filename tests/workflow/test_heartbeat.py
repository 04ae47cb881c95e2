"""A healthy slow model call is never taken for a dead one: a model server silent for 20 s
before its first token, under a 3 s heartbeat timeout, answers on the call's first attempt."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, answer, ask_json

SILENCE = 20.0  # a 100K-token prefill on a busy server
HEARTBEAT = 3.0
THINK = "llm.think"


async def test_silent_prefill_completes_on_the_first_attempt(
    stack: Stack, temporal_address: str
) -> None:
    stack.script(QUESTION, [answer()])
    stack.model.first_token_delay = SILENCE  # headers at once, then nothing for 20 s
    report = ask_json(
        stack, "--id", "s-prefill", timeout="90", DEEPRESEARCH_HEARTBEAT_SECONDS=str(HEARTBEAT)
    )
    assert report["answer"] == ANSWER and report["termination"] == "answer"
    assert len(stack.model.research_requests()) == 1  # the model was asked once

    client = await Client.connect(temporal_address)
    history = await client.get_workflow_handle("s-prefill").fetch_history()
    scheduled = {
        event.event_id: event.activity_task_scheduled_event_attributes
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    started = [
        event.activity_task_started_event_attributes
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    think = [s for s in started if scheduled[s.scheduled_event_id].activity_type.name == THINK]
    assert [started.attempt for started in think] == [1]
    timeout = next(iter(scheduled.values())).heartbeat_timeout.ToTimedelta().total_seconds()
    assert timeout == HEARTBEAT  # the session ran under the short timeout it was given
    kinds = {event.event_type for event in history.events}
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT not in kinds
