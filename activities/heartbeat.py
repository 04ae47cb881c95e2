"""Heartbeats: every activity with a heartbeat timeout heartbeats in the background while it
runs (a liveness signal), so a killed worker's call is retried within the heartbeat timeout
instead of the call's full timeout, and a healthy call that waits long for its first byte (a
100K-token prefill) is never taken for a dead one."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

MIN_INTERVAL = 0.2  # seconds between two heartbeats at the most

# The details the running activity's background beats carry (see `remember`).
_details: ContextVar[list[Any] | None] = ContextVar("heartbeat_details", default=None)


def interval(heartbeat_timeout: float) -> float:
    """Beat at a third of the timeout: two beats may be lost or late before the server gives
    up (the SDK sends at most one per 0.8 timeouts anyway)."""
    return max(MIN_INTERVAL, heartbeat_timeout / 3)


def beat(*details: object) -> None:
    """Heartbeat when running inside an activity (activity code is also called from tests)."""
    if activity.in_activity():
        activity.heartbeat(*details)


def remember(*details: object) -> None:
    """Progress for the background beats to carry from now on, so that the next attempt after
    a failure or a dead worker starts from it (`activity.info().heartbeat_details`). It costs no
    heartbeat of its own: the next beat sends it (a beat replaces the details of the last)."""
    holder = _details.get()
    if holder is not None:
        holder[:] = details


def late_by() -> float:
    """Seconds since the server started this attempt (its heartbeat clock started then): a
    busy worker hands a task to its activity seconds after the server gave it out."""
    started = activity.info().started_time
    return max(0.0, (datetime.now(UTC) - started).total_seconds())


def first_beat(every: float, timeout: float, late: float) -> float:
    """Seconds until the first heartbeat: `every`, as for any beat, but sooner for a task that
    reached the activity `late`, so that the server hears of it by `timeout - every` after it
    started the attempt. Beating at once instead would cost a heartbeat call for every short
    activity that a busy worker starts late: more work for the server than the retries saved."""
    return max(0.0, min(every, timeout - every - late))


async def _beat_forever(every: float, first: float, details: list[Any]) -> None:
    await asyncio.sleep(first)
    while True:
        activity.heartbeat(*details)
        await asyncio.sleep(every)


class KeepAlive(Interceptor):
    """Worker interceptor: heartbeats every activity that has a heartbeat timeout, from its
    start to its end, whatever it awaits. A call stuck on a live worker is ended by its own
    client timeout and the start-to-close timeout; the heartbeat timeout detects dead workers
    (and delivers cancellation)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _KeepAliveInbound(next)


class _KeepAliveInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        timeout = activity.info().heartbeat_timeout
        if not timeout:
            return await self.next.execute_activity(input)
        seconds = timeout.total_seconds()
        every = interval(seconds)
        details: list[Any] = []
        token = _details.set(details)
        first = first_beat(every, seconds, late_by())
        beats = asyncio.create_task(_beat_forever(every, first, details))
        try:
            return await self.next.execute_activity(input)
        finally:
            beats.cancel()
            _details.reset(token)
