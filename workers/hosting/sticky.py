"""A retried activity whose last attempt died on its heartbeat may have died with the worker that
held its session in cache. The server would then hand the session's next workflow task to that
dead worker's sticky queue and wait out the sticky timeout (5 s) before any other worker may
take it. `ReleaseSticky` clears the session's sticky queue while the new attempt runs, so the
task its completion schedules goes straight to the shared queue."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TimeoutType
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    ResetStickyTaskQueueRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

log = logging.getLogger(__name__)

# The completion waits this long at most for the reset: a slow server costs the 5 s it saves,
# never the call's result.
RESET_WAIT = 2.0


def after_lost_worker(activity_id: str, pending: list[PendingActivityInfo]) -> bool:
    """Whether this attempt follows one that ended on its heartbeat timeout: the signature of a
    dead (or frozen) worker. Other failures (a 429, a server error) leave the sticky worker
    alone, since a reset costs the session one full replay."""
    heartbeat = TimeoutType.TIMEOUT_TYPE_HEARTBEAT  # unset failure fields read as unspecified
    return any(
        item.activity_id == activity_id
        and item.last_failure.timeout_failure_info.timeout_type == heartbeat
        for item in pending
    )


async def release(client: Client, info: activity.Info) -> None:
    """Clear the session's sticky queue when this attempt follows a lost worker. A failed RPC
    is logged, never raised: the sticky timeout still moves the session."""
    execution = WorkflowExecution(workflow_id=info.workflow_id, run_id=info.workflow_run_id or "")
    service = client.workflow_service
    try:
        described = await service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(namespace=info.workflow_namespace, execution=execution)
        )
        if not after_lost_worker(info.activity_id, list(described.pending_activities)):
            return
        await service.reset_sticky_task_queue(
            ResetStickyTaskQueueRequest(namespace=info.workflow_namespace, execution=execution)
        )
    except RPCError as exc:
        log.warning("session %s: could not clear its sticky queue: %s", info.workflow_id, exc)
        return
    log.info(
        "session %s: %s attempt %d follows a heartbeat timeout; its next task goes to any worker",
        info.workflow_id,
        info.activity_type,
        info.attempt,
    )


class ReleaseSticky(Interceptor):
    """Worker interceptor: on a retried attempt of a workflow's activity, `release` runs beside
    the activity and is done before its result is reported."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ReleaseStickyInbound(next)


class _ReleaseStickyInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.attempt < 2 or not info.workflow_id or not info.heartbeat_timeout:
            return await self.next.execute_activity(input)
        reset = asyncio.create_task(release(activity.client(), info))
        try:
            return await self.next.execute_activity(input)
        finally:
            try:
                await asyncio.wait_for(asyncio.shield(reset), RESET_WAIT)
            except TimeoutError:
                log.warning("session %s: sticky reset still pending", info.workflow_id)
