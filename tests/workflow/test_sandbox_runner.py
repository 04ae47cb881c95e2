"""The worker's sandbox runner (glue code compiled once) runs workflows as the SDK's does and
still refuses what a workflow must not do, on a real dev server."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from tests.workflow.sandboxed import Echo, WallClock
from workers.hosting import sandbox
from workers.hosting.sandbox import CompiledSandboxedWorkflowRunner


async def test_runs_workflows_and_still_refuses_the_wall_clock(temporal_address: str) -> None:
    client = await Client.connect(temporal_address)
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    sandbox.compiled.cache_clear()
    async with Worker(
        client,
        task_queue=queue,
        workflows=[Echo, WallClock],
        workflow_runner=CompiledSandboxedWorkflowRunner(),
    ):
        for i in range(3):
            text = await client.execute_workflow(
                Echo.run, f"run {i}", id=f"echo-{queue}-{i}", task_queue=queue
            )
            assert text == f"run {i} at True"
        # three runs, each creating and activating an instance: the glue compiled once each
        info = sandbox.compiled.cache_info()
        assert info.hits > info.misses > 0
        handle = await client.start_workflow(
            WallClock.run,
            id=f"clock-{queue}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=10),
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    failures = [
        event.workflow_task_failed_event_attributes.failure
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_task_failed_event_attributes")
    ]
    kinds = {failure.application_failure_info.type for failure in failures}
    assert kinds == {"RestrictedWorkflowAccessError"}, failures
    assert "datetime.datetime.now" in failures[0].message
