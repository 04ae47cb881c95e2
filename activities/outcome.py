"""Turn a tool that still fails into an observation the model can react to."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import ToolError, is_content_error
from activities.metrics import count


def _last_attempt() -> bool:
    if not activity.in_activity():
        return True
    info = activity.info()
    maximum = info.retry_policy.maximum_attempts if info.retry_policy else 0
    return bool(maximum) and info.attempt >= maximum


async def tool_outcome(work: Awaitable[str], *, fallback: str, label: str) -> str:
    """Await a tool's text. A non-retryable failure, and one that what a page or URL holds
    raises in a codec or URL parser, answers at once with the error; a retryable one raises
    (Temporal retries) until the last attempt, which answers with `fallback`."""
    tool = label.split(" ", 1)[0]
    try:
        text = await work
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
