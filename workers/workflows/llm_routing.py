"""Routing of model calls to the inference pool, with cache affinity: a session's first turn
goes to the shared queue (`llm`); the replica that answers it serves the session's later turns on
its own `llm-<replica>` queue (its prefix cache holds the conversation) until it stops taking
work for `affinity_seconds`, when the turn falls back to the shared queue and the session
adopts whichever replica answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from activities.llm import ThinkRequest, ThinkResult
    from graphs.react import cancel_update, control
    from graphs.strategies import model_state
    from workers.workflows.summaries import summarize_think

THINK_ACTIVITY = "llm.think"
ABANDON_ON_CANCEL = "cancel-abandons-model-call"  # workflow.patched id (2026-12)


def replica_queue(shared: str, replica: str) -> str:
    return f"{shared}-{replica}"


@dataclass(frozen=True)
class ModelCallOptions:
    queue: str  # the shared queue (DEEPRESEARCH_LLM_QUEUE); replicas add `-<name>`
    wait: timedelta  # how long a call may wait for any healthy replica before the session fails
    timeout: timedelta
    heartbeat: timedelta
    retry: RetryPolicy
    affinity: timedelta


def _never_started(error: ActivityError) -> bool:
    cause = error.cause
    return isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START


def make_think_node(options: ModelCallOptions) -> Callable[[dict[str, Any]], Awaitable[dict]]:
    """The `think` node, run in the workflow: it schedules the model-call activity on the
    right task queue (a plugin activity node has one fixed queue)."""

    async def call(state: dict[str, Any], queue: str, affinity: bool) -> ThinkResult:
        return await workflow.execute_activity(
            THINK_ACTIVITY,
            ThinkRequest(state=model_state(state)),
            result_type=ThinkResult,
            task_queue=queue,
            start_to_close_timeout=options.timeout,
            heartbeat_timeout=options.heartbeat,
            schedule_to_start_timeout=options.affinity if affinity else options.wait,
            retry_policy=options.retry,
            summary=summarize_think((state,), {}),
        )

    async def shared(state: dict[str, Any]) -> ThinkResult:
        try:
            return await call(state, options.queue, affinity=False)
        except ActivityError as error:
            if not _never_started(error):
                raise
            waited = int(options.wait.total_seconds())
            raise ApplicationError(
                f"no model replica took the call within {waited} s: is an inference worker "
                "running, with a healthy model server? (DEEPRESEARCH_MODEL_WAIT_SECONDS)",
                type="NoModelReplica",
                non_retryable=True,
            ) from error

    async def turn(state: dict[str, Any]) -> dict[str, Any]:
        replica = state.get("replica")
        if not replica:
            result = await shared(state)
        else:
            try:
                result = await call(state, replica_queue(options.queue, replica), affinity=True)
            except ActivityError as error:
                if not _never_started(error):
                    raise
                result = await shared(state)  # the replica is gone: any healthy one will do
        return {**result.update, "replica": result.replica}

    async def think(state: dict[str, Any]) -> dict[str, Any]:
        """A turn that an operator's cancel abandons: the call in flight is cancelled (its
        heartbeat delivers it) and the model is asked at once for its best answer."""
        operator = control()
        if operator.get("cancel") or not workflow.patched(ABANDON_ON_CANCEL):
            return await turn(state)
        work = asyncio.ensure_future(turn(state))
        stop = asyncio.ensure_future(workflow.wait_condition(lambda: bool(operator.get("cancel"))))
        await workflow.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            stop.cancel()
            return work.result()
        work.cancel()
        with contextlib.suppress(ActivityError, asyncio.CancelledError):
            await work
        update = cancel_update(operator["cancel"])
        messages = [*state.get("messages", []), *update["messages"]]
        answered = await turn({**state, "messages": messages, "forced": True})
        return {**answered, **update, "messages": [*update["messages"], *answered["messages"]]}

    return think
