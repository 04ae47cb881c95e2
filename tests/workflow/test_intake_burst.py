"""On a real server and the real SDK: the intake never caps the activities a worker runs (a
burst of 24 runs all at once under an intake of 4), the SDK reports each task it hands to
Python (the bound rests on that), and every permit comes back. The bound itself is tested in
tests/unit/test_intake.py: a worker this idle starts tasks as fast as core hands them over."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import SlotMarkUsedContext, UnsandboxedWorkflowRunner, Worker

from activities.heartbeat import KeepAlive
from workers.hosting.intake import POLLS, Intake, _Slots

BURST = 24
WAITING = 4
INTAKE = Intake(WAITING)
seen = {"running": 0, "most_running": 0, "handed_over": 0}


all_running = asyncio.Event()


@activity.defn(name="intake.nap")
async def nap() -> None:
    """Runs until all of the burst runs at once (no timing: a cap on running activities would
    leave it waiting, and the workflow would time out)."""
    seen["running"] += 1
    seen["most_running"] = max(seen["most_running"], seen["running"])
    if seen["running"] == BURST:
        all_running.set()
    try:
        await asyncio.wait_for(all_running.wait(), 20)
    finally:
        seen["running"] -= 1


@workflow.defn(name="IntakeBurst")
class Burst:
    @workflow.run
    async def run(self) -> int:
        await asyncio.gather(
            *(
                workflow.execute_activity(
                    nap,
                    start_to_close_timeout=timedelta(seconds=30),
                    heartbeat_timeout=timedelta(seconds=3),
                )
                for _ in range(BURST)
            )
        )
        return BURST


async def test_a_burst_runs_at_once_and_each_task_is_reported(
    temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _Slots.mark_slot_used

    def counted(slots: _Slots, ctx: SlotMarkUsedContext) -> None:
        seen["handed_over"] += 1
        report(slots, ctx)

    monkeypatch.setattr(_Slots, "mark_slot_used", counted)
    client = await Client.connect(temporal_address)
    queue = f"intake-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[Burst],
        activities=[nap],
        tuner=INTAKE.tuner(100),
        max_concurrent_activity_task_polls=POLLS,
        interceptors=[KeepAlive(), INTAKE],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        done = await client.execute_workflow(
            Burst.run, id=queue, task_queue=queue, execution_timeout=timedelta(seconds=60)
        )
    assert done == BURST
    assert seen["handed_over"] == BURST  # the SDK reported each task it handed to Python
    assert seen["most_running"] == BURST  # the intake never held the running ones back
    assert INTAKE.unstarted == 0 and not INTAKE._waiters
