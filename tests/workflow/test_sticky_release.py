"""A worker SIGKILLed mid model call also held the session in cache: the retried call's
completion must reach a live worker at once, not wait out the dead worker's sticky queue."""

from __future__ import annotations

import time

from temporalio.api.enums.v1 import EventType, TaskQueueKind
from temporalio.client import Client

from tests.conftest import Stack
from tests.workflow.test_session import (
    ANSWER,
    QUESTION,
    finish_on_a_new_worker,
    four_call_script,
)

THINK = "llm.think"


def held_think_call(stack: Stack, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not stack.model.in_flight:
        assert time.monotonic() < deadline, "the model call never reached the fake"
        time.sleep(0.02)


async def test_retried_call_after_a_dead_worker_skips_its_sticky_queue(
    stack: Stack, temporal_address: str
) -> None:
    stack.script(QUESTION, four_call_script(stack))
    stack.model.first_token_delay = 30  # the first model call is held until the worker dies
    detached = stack.cli("ask", QUESTION, "--id", "s-sticky", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    first = stack.spawn_worker("worker-1.log")
    try:
        held_think_call(stack)
        first.kill()  # SIGKILL: the session's sticky worker is gone without a word
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    stack.model.first_token_delay = 0
    report = finish_on_a_new_worker(stack, "s-sticky")
    assert report["answer"] == ANSWER

    client = await Client.connect(temporal_address)
    events = list((await client.get_workflow_handle("s-sticky").fetch_history()).events)
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    started = {
        e.activity_task_started_event_attributes.scheduled_event_id: (
            e.activity_task_started_event_attributes.attempt
        )
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    }
    retried = [
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and scheduled[e.activity_task_completed_event_attributes.scheduled_event_id] == THINK
        and started[e.activity_task_completed_event_attributes.scheduled_event_id] > 1
    ]
    assert len(retried) == 1, "the held model call completed on a retry"
    after = next(
        e
        for e in events[retried[0] :]
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    )
    queue = after.workflow_task_scheduled_event_attributes.task_queue
    assert queue.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL, queue
    timed_out = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT]
    assert not timed_out, "a workflow task waited out the dead worker's sticky queue"
    worker_log = (stack.data_dir / "worker-2.log").read_text()
    assert "follows a heartbeat timeout; its next task goes to any worker" in worker_log
