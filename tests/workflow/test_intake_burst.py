"""On a real server, the intake bounds the tasks a worker holds unstarted, not the activities it
runs: a burst of 24 one-second activities runs all at once while at most 4 tasks ever wait
between the SDK's core and their activity."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.heartbeat import KeepAlive
from workers.hosting.intake import POLLS, Intake

BURST = 24
WAITING = 4
INTAKE = Intake(WAITING)
seen = {"running": 0, "most_running": 0, "most_unstarted": 0}


@activity.defn(name="intake.nap")
async def nap() -> None:
    seen["most_unstarted"] = max(seen["most_unstarted"], INTAKE.unstarted)
    seen["running"] += 1
    seen["most_running"] = max(seen["most_running"], seen["running"])
    try:
        await asyncio.sleep(1.0)
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


async def test_a_burst_runs_at_once_with_few_tasks_held_unstarted(temporal_address: str) -> None:
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
    # tasks did queue between core and their activity (core reports each task it takes), and
    # never more than the intake allows
    assert 1 <= seen["most_unstarted"] <= WAITING
    assert seen["most_running"] == BURST  # the intake never held the running ones back
    assert INTAKE.unstarted == 0 and not INTAKE._waiters
