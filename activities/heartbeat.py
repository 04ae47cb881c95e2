"""Heartbeat while awaiting slow I/O, so a killed worker's call is retried within the heartbeat
timeout instead of the call's full timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")


def beat(*details: object) -> None:
    """Heartbeat when running inside an activity (activity code is also called from tests)."""
    if activity.in_activity():
        activity.heartbeat(*details)


async def heartbeating(work: Awaitable[T]) -> T:
    """Await `work`, heartbeating at a third of the activity's heartbeat timeout."""
    info = activity.info() if activity.in_activity() else None
    if info is None or not info.heartbeat_timeout:
        return await work
    every = max(0.2, info.heartbeat_timeout.total_seconds() / 3)
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        if not task.done():
            task.cancel()
