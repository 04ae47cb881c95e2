"""Activity options (timeouts, heartbeats, retries) built from one policy, for the graph's nodes
and for the activities a workflow schedules itself: one place that honours the settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio.common import RetryPolicy

MAX_RETRY_INTERVAL = timedelta(seconds=30)
WRITING_TIMEOUT = timedelta(minutes=15)  # a long-form report or a Heavy aggregation
JUDGE_TIMEOUT = timedelta(minutes=10)


class ActivityPolicy(BaseModel):
    """The deployment's retry and heartbeat settings, carried in a workflow's input (workflow
    code reads no environment). The defaults are the settings' defaults."""

    heartbeat_seconds: float = Field(3, gt=0, description="A dead worker's call retries after.")
    attempts: int = Field(5, ge=1, description="Attempts of a workflow-scheduled activity.")
    retry_initial_seconds: float = Field(1.0, gt=0, description="First retry delay; doubles.")


def retry_policy(attempts: int, initial_seconds: float) -> RetryPolicy:
    """Exponential backoff from `initial_seconds`, capped at 30 s between attempts."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=initial_seconds),
        backoff_coefficient=2.0,
        maximum_interval=MAX_RETRY_INTERVAL,
        maximum_attempts=attempts,
    )


def activity_options(
    *,
    timeout: timedelta,
    heartbeat_seconds: float,
    attempts: int,
    retry_initial_seconds: float,
    **extra: Any,
) -> dict[str, Any]:
    """Keyword options for `workflow.execute_activity` and for a plugin node's metadata (the
    same names): start-to-close timeout, heartbeat timeout, retry policy, plus `extra`."""
    return {
        "start_to_close_timeout": timeout,
        "heartbeat_timeout": timedelta(seconds=heartbeat_seconds),
        "retry_policy": retry_policy(attempts, retry_initial_seconds),
        **extra,
    }


def policy_options(policy: ActivityPolicy, timeout: timedelta, **extra: Any) -> dict[str, Any]:
    """Options of an activity a workflow schedules itself (report, Heavy reports, judge)."""
    return activity_options(
        timeout=timeout,
        heartbeat_seconds=policy.heartbeat_seconds,
        attempts=policy.attempts,
        retry_initial_seconds=policy.retry_initial_seconds,
        **extra,
    )
