"""Turn a tool that still fails into an observation the model can react to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import ToolError, is_content_error
from activities.metrics import count

# An attempt answers a tenth of its start-to-close timeout (5 s at the most) before it ends: a
# tool that hangs on its last attempt then answers with its fallback, instead of the timeout
# failing the whole session. Counted on this worker's clock from when the tool began, not from
# the server's start time, so that a skewed clock cannot cut every call short; the margin also
# covers the moments the task took to reach the activity.
DEADLINE_SHARE = 0.1
DEADLINE_MARGIN_MAX = 5.0


def _last_attempt() -> bool:
    if not activity.in_activity():
        return True
    info = activity.info()
    maximum = info.retry_policy.maximum_attempts if info.retry_policy else 0
    return bool(maximum) and info.attempt >= maximum


def attempt_deadline() -> float | None:
    """Loop time by which this attempt answers, short of its start-to-close timeout; None
    without one (outside an activity). An activity made of several tools takes it once, at its
    start, and hands it to each (`tool_outcome(..., deadline=...)`)."""
    if not activity.in_activity():
        return None
    timeout = activity.info().start_to_close_timeout
    if not timeout:
        return None
    seconds = timeout.total_seconds()
    margin = min(DEADLINE_MARGIN_MAX, seconds * DEADLINE_SHARE)
    return asyncio.get_running_loop().time() + seconds - margin


async def _within_deadline(work: Awaitable[str], deadline: float | None) -> str:
    """`work`, cut off by the attempt's deadline as a retryable failure."""
    try:
        async with asyncio.timeout_at(deadline):
            return await work
    except TimeoutError:
        if deadline is None or asyncio.get_running_loop().time() < deadline:
            raise  # a TimeoutError of the tool's own
        raise ApplicationError("no answer before the attempt's timeout", type="Deadline") from None


async def tool_outcome(
    work: Awaitable[str], *, fallback: str, label: str, deadline: float | None = None
) -> str:
    """Await a tool's text. A non-retryable failure, and one that what a page or URL holds
    raises in a codec or URL parser, answers at once with the error; a retryable one, and a
    tool still busy shortly before the attempt's timeout, raises (Temporal retries) until the
    last attempt, which answers with `fallback`. `deadline` (loop time): the attempt's, taken
    when the activity began; by default from now."""
    tool = label.split(" ", 1)[0]
    try:
        text = await _within_deadline(work, attempt_deadline() if deadline is None else deadline)
    except ToolError as error:
        count("tool_calls", tool=tool, outcome="refused")
        return f"[{label}] {error}"
    except ApplicationError as error:
        if error.non_retryable:
            count("tool_calls", tool=tool, outcome="failed")
            if activity.in_activity():
                activity.logger.warning("%s failed: %s", label, error)
            return f"[{label}] failed: {error}"
        if _last_attempt():
            count("tool_calls", tool=tool, outcome="gave_up")
            if activity.in_activity():
                activity.logger.warning("%s gave up after retries: %s", label, error)
            return fallback
        count("tool_retries", tool=tool)
        raise
    except Exception as error:
        if not is_content_error(error):
            raise  # a bug of ours: Temporal retries it, the worker log shows it
        count("tool_calls", tool=tool, outcome="failed")
        if activity.in_activity():
            activity.logger.warning("%s failed on its input: %r", label, error)
        return f"[{label}] failed: {type(error).__name__}: {error}"
    count("tool_calls", tool=tool, outcome="ok")
    return text


async def observe(
    task: dict[str, Any], work: Awaitable[str], *, fallback: str, label: str
) -> dict[str, Any]:
    """A tool node's state update: the tool text as the task's observation (the worker's
    `KeepAlive` heartbeats while it waits)."""
    text = await tool_outcome(work, fallback=fallback, label=label)
    observation = {"call_id": task["call_id"], "index": task["index"], "text": text}
    return {"observations": [observation], "clock": time.time()}
