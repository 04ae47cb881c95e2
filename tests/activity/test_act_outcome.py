"""tool_outcome's last-attempt rule and the KeepAlive heartbeats, outside and inside an
activity context (Temporal's ActivityEnvironment supplies the attempt number and retry
policy)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.context import ToolContext
from activities.errors import ToolError
from activities.heartbeat import KeepAlive
from activities.llm import chat
from activities.outcome import tool_outcome
from activities.search import search
from graphs import prompts
from graphs.state import Sampling
from tests.fakes import FakeJina, FakeModel, FakeSerper

FALLBACK = "fallback text"


async def _raise(error: Exception) -> str:
    raise error


def _retryable() -> ApplicationError:
    return ApplicationError("svc answered HTTP 503", type="HTTP503")


def _env(attempt: int, maximum: int | None, heartbeat: float | None = None) -> ActivityEnvironment:
    env = ActivityEnvironment()
    policy = None if maximum is None else RetryPolicy(maximum_attempts=maximum)
    env.info = replace(
        env.info,
        attempt=attempt,
        retry_policy=policy,
        heartbeat_timeout=None if heartbeat is None else timedelta(seconds=heartbeat),
    )
    return env


# -- outside an activity: every attempt is the last ------------------------------------------


async def test_success_passes_through() -> None:
    async def ok() -> str:
        return "result"

    assert await tool_outcome(ok(), fallback=FALLBACK, label="t") == "result"


async def test_retryable_outside_activity_is_fallback() -> None:
    assert await tool_outcome(_raise(_retryable()), fallback=FALLBACK, label="t") == FALLBACK


async def test_non_retryable_answers_error() -> None:
    error = ApplicationError("svc answered HTTP 404", type="HTTP404", non_retryable=True)
    text = await tool_outcome(_raise(error), fallback=FALLBACK, label="search 'q'")
    assert text.startswith("[search 'q'] failed: ") and "HTTP 404" in text


async def test_tool_error_answers_message() -> None:
    text = await tool_outcome(_raise(ToolError("refused it")), fallback=FALLBACK, label="visit")
    assert text == "[visit] refused it"


async def test_other_exceptions_propagate() -> None:
    with pytest.raises(ZeroDivisionError):
        await tool_outcome(_raise(ZeroDivisionError()), fallback=FALLBACK, label="t")


@pytest.mark.parametrize(
    "error",
    [
        LookupError("'rot13' is not a text encoding"),
        UnicodeError("Unsupported error handling replace"),
        UnicodeDecodeError("utf-32", b"\x00", 0, 1, "no BOM"),
        httpx.InvalidURL("For absolute URLs, path must be empty or begin with '/'"),
    ],
)
async def test_what_content_raises_answers_at_once(error: Exception) -> None:
    # Inside an activity too, on the first attempt: retrying cannot change the page.

    async def body() -> str:
        return await tool_outcome(_raise(error), fallback=FALLBACK, label="visit")

    text = await _env(attempt=1, maximum=5).run(body)
    assert text == f"[visit] failed: {type(error).__name__}: {error}"


@pytest.mark.parametrize("error", [KeyError("k"), IndexError("i")])
async def test_lookup_errors_of_our_own_code_propagate(error: Exception) -> None:
    with pytest.raises(type(error)):
        await tool_outcome(_raise(error), fallback=FALLBACK, label="t")


# -- inside an activity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "maximum"), [(1, 3), (2, 3), (1, None), (7, 0)], ids=["1of3", "2of3", "none", "inf"]
)
async def test_retryable_raises_before_last_attempt(attempt: int, maximum: int | None) -> None:
    async def body() -> str:
        return await tool_outcome(_raise(_retryable()), fallback=FALLBACK, label="t")

    with pytest.raises(ApplicationError, match="HTTP 503"):
        await _env(attempt, maximum).run(body)


@pytest.mark.parametrize(("attempt", "maximum"), [(3, 3), (1, 1)])
async def test_retryable_on_last_attempt_is_fallback(attempt: int, maximum: int) -> None:
    async def body() -> str:
        return await tool_outcome(_raise(_retryable()), fallback=FALLBACK, label="t")

    assert await _env(attempt, maximum).run(body) == FALLBACK


def _timed(attempt: int, maximum: int, timeout: float) -> ActivityEnvironment:
    env = _env(attempt, maximum)
    env.info = replace(env.info, start_to_close_timeout=timedelta(seconds=timeout))
    return env


async def _hanging_tool() -> str:
    return await tool_outcome(asyncio.sleep(30, "late"), fallback=FALLBACK, label="t")


async def test_a_tool_busy_at_its_last_attempts_deadline_answers_the_fallback() -> None:
    """Before, the server's start-to-close timeout ended such an attempt, and the session (here,
    without a server, the tool would have answered "late" after 30 s)."""
    assert await _timed(3, 3, timeout=0.5).run(_hanging_tool) == FALLBACK


async def test_a_tool_busy_at_an_earlier_attempts_deadline_is_retried() -> None:
    with pytest.raises(ApplicationError, match="before the attempt's timeout") as raised:
        await _timed(1, 3, timeout=0.5).run(_hanging_tool)
    assert not raised.value.non_retryable


async def test_a_timeout_error_of_the_tool_itself_is_not_the_deadline() -> None:
    async def body() -> str:
        return await tool_outcome(_raise(TimeoutError("own")), fallback=FALLBACK, label="t")

    with pytest.raises(TimeoutError, match="own"):
        await _timed(3, 3, timeout=30).run(body)


async def test_search_node_in_activity(
    tools: ToolContext, serper: FakeSerper, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    task = {"call_id": "c", "index": 0, "query": "flaky"}
    serper.fail_next(2, 503)
    with pytest.raises(ApplicationError) as caught:
        await _env(1, 5).run(search, task)
    assert not caught.value.non_retryable
    result = await _env(5, 5).run(search, task)
    assert result["observations"][0]["text"] == prompts.SEARCH_TIMEOUT
    result = await _env(2, 5).run(search, task)  # the fault queue is empty now
    assert result["observations"][0]["text"].startswith("A Google search for 'flaky' found 3")


# -- heartbeats ------------------------------------------------------------------------------


class _Activity:
    """The activity behind the interceptor: `work` awaited as its whole body."""

    def __init__(self, work: Callable[[], Awaitable[str]]) -> None:
        self.work = work

    async def execute_activity(self, input: object) -> str:
        return await self.work()


async def test_keepalive_heartbeats_while_a_tool_waits(tools: ToolContext, jina: FakeJina) -> None:
    jina.latency = 0.8
    beats: list[tuple[object, ...]] = []
    env = _env(1, 3, heartbeat=0.6)  # a beat every 0.2 s
    env.on_heartbeat = lambda *details: beats.append(details)

    async def read() -> str:
        return (await tools.http.get(f"{jina.url}/page/slow")).text

    inbound = KeepAlive().intercept_activity(_Activity(read))  # type: ignore[arg-type]
    assert "slow" in await env.run(inbound.execute_activity, None)
    assert len(beats) >= 2


def _started(env: ActivityEnvironment, seconds_ago: float) -> ActivityEnvironment:
    env.info = replace(env.info, started_time=datetime.now(UTC) - timedelta(seconds=seconds_ago))
    return env


async def _nap() -> str:
    await asyncio.sleep(0.3)
    return "done"


async def test_keepalive_beats_at_once_for_a_task_that_reached_the_worker_late() -> None:
    """The server's heartbeat clock runs from when it gave the task out; a busy worker can hand
    it to the activity seconds later. 2.5 s late under a 3 s timeout: beat now, not in 1 s."""
    beats: list[tuple[object, ...]] = []
    env = _started(_env(1, 3, heartbeat=3), seconds_ago=2.5)
    env.on_heartbeat = lambda *details: beats.append(details)
    inbound = KeepAlive().intercept_activity(_Activity(_nap))  # type: ignore[arg-type]
    assert await env.run(inbound.execute_activity, None) == "done"
    assert len(beats) == 1


@pytest.mark.parametrize("late", [0.0, 1.5])
async def test_keepalive_spares_a_short_activity_that_is_not_late_enough_to_risk_it(
    late: float,
) -> None:
    """On time, the first beat comes a third of the timeout on; 1.5 s late under a 3 s timeout,
    0.5 s on (2 s after the server's start): a 0.3 s activity sends no heartbeat either way."""
    beats: list[tuple[object, ...]] = []
    env = _started(_env(1, 3, heartbeat=3), seconds_ago=late)
    env.on_heartbeat = lambda *details: beats.append(details)
    inbound = KeepAlive().intercept_activity(_Activity(_nap))  # type: ignore[arg-type]
    assert await env.run(inbound.execute_activity, None) == "done"
    assert beats == []


async def test_keepalive_leaves_an_activity_without_heartbeat_timeout_alone() -> None:
    beats: list[tuple[object, ...]] = []
    env = _env(1, 3)
    env.on_heartbeat = lambda *details: beats.append(details)

    async def nap() -> str:
        await asyncio.sleep(0.5)
        return "done"

    inbound = KeepAlive().intercept_activity(_Activity(nap))  # type: ignore[arg-type]
    assert await env.run(inbound.execute_activity, None) == "done"
    assert beats == []


async def test_chat_streams_and_leaves_heartbeats_to_the_interceptor(
    tools: ToolContext, model: FakeModel
) -> None:
    """The stream is read whole; heartbeats come from the worker's KeepAlive interceptor (on a
    timer, also before the first token: tests/workflow/test_heartbeat.py), not per chunk."""
    model.scripts["Q"] = ["<answer>A longer streamed answer</answer>"]
    beats: list[tuple[object, ...]] = []
    env = _env(1, 3)
    env.on_heartbeat = lambda *details: beats.append(details)
    messages = [{"role": "user", "content": "Q"}]
    result = await env.run(chat, tools.research_model, messages, Sampling())
    assert result.text == "<answer>A longer streamed answer</answer>"
    assert beats == []
