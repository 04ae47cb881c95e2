"""Heavy mode survives a worker killed with SIGKILL while its branches run: the new worker
finishes the unfinished branch and redoes none of the completed steps."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from tests.conftest import Stack
from tests.workflow import test_heavy
from tests.workflow.test_session import QUESTION, call

SESSION = "s-heavy-crash"
B0_QUERY = "turing award 2024 winners"
B1_QUERIES = ["turing award history", "barto reinforcement learning", "sutton td learning"]
INTEGRATED = "Andrew Barto and Richard Sutton"
# Fast enough for the test, slow enough that the test arms a hang between two of b1's searches.
MODEL_LATENCY = 0.75


def route(body: dict[str, Any]) -> str | None:
    """Two branches sample at 0.6 (b0) and 1.0 (b1); reports and integration as in Heavy mode."""
    shared = test_heavy.route(body)
    if shared in ("report", "integrate"):
        return shared
    return {0.6: "b0", 1.0: "b1"}.get(round(body["temperature"], 2))


async def wait_until(what: str, ready: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await ready():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)


def script_keys(stack: Stack) -> list[tuple[str | None, int]]:
    return [(route(r.body), r.meta["turn"]) for r in stack.model.research_requests()]


async def test_worker_sigkill_mid_heavy_session(stack: Stack, temporal_address: str) -> None:
    """Kill -9 the worker once branch b0 has answered and b1 has finished one search (its
    second hangs); a new worker finishes the session with no completed step sent again."""
    stack.model.script_key = route
    stack.model.scripts.update(
        {
            "b0": [
                call("search", {"query": [B0_QUERY]}),
                "<think>found it</think>\n<answer>Barto and Sutton</answer>",
            ],
            "b1": [
                *(call("search", {"query": [q]}, thought=f"look up {q}") for q in B1_QUERIES),
                "<think>enough</think>\n<answer>Sutton and Barto</answer>",
            ],
            "report": ["<think>condensing</think>\n<report>## Solution Planning\n...</report>"],
            "integrate": [f"<think>weighing</think>\n<answer>{INTEGRATED}</answer>"],
        }
    )
    stack.model.latency = MODEL_LATENCY
    fast = {"DEEPRESEARCH_STICKY_SECONDS": "1", "DEEPRESEARCH_AFFINITY_SECONDS": "1"}
    started = time.monotonic()
    detached = stack.cli(
        "ask", QUESTION, "--id", SESSION, "--mode", "heavy", "--branches", "2",
        "--detach", "--no-worker",
    )  # fmt: skip
    assert detached.returncode == 0, detached.stderr
    client = await Client.connect(temporal_address)
    b0 = client.get_workflow_handle(f"{SESSION}-b0")

    async def b0_completed() -> bool:
        try:
            return (await b0.describe()).status == WorkflowExecutionStatus.COMPLETED
        except RPCError:  # not started yet
            return False

    async def first_searches_done() -> bool:
        return {B0_QUERY, B1_QUERIES[0]} <= set(stack.serper.queries())

    async def second_search_hung() -> bool:
        return any(r.status == 0 for r in stack.serper.records())

    first = stack.spawn_worker("worker-1.log", **fast)
    try:
        # b0's only search and b1's first are answered; the next search to come is b1's second
        # (b1's model turn in between takes MODEL_LATENCY), and it hangs.
        await wait_until("both branches' first searches answered", first_searches_done)
        stack.serper.hang_next(1)
        await wait_until("b1's second search is in flight", second_search_hung)
        await wait_until("branch b0 completed", b0_completed)
        before = script_keys(stack)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    killed_at = time.monotonic() - started
    assert sorted(before) == [("b0", 0), ("b0", 1), ("b1", 0), ("b1", 1)]
    (hung,) = stack.serper.records(lambda r: r.status == 0)
    assert [p["q"] for p in (hung.body if isinstance(hung.body, list) else [hung.body])] == [
        B1_QUERIES[1]
    ]

    stack.model.latency = 0
    second = stack.spawn_worker("worker-2.log", **fast)
    try:
        result = stack.cli("ask", QUESTION, "--json", "--id", SESSION, "--no-worker", timeout=60)
    finally:
        second.terminate()
        second.wait(20)
    elapsed = time.monotonic() - started
    print(f"heavy crash test: killed at {killed_at:.2f}s, done at {elapsed:.2f}s")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["answer"] == INTEGRATED and report["termination"] == "answer"
    assert report["tool_calls"] == 1 + len(B1_QUERIES)

    # Every search reached Serper once with an answer; only the hung one was sent twice.
    queries = stack.serper.queries()
    assert sorted(queries) == sorted([B0_QUERY, *B1_QUERIES]), queries
    assert [r.status for r in stack.serper.records()].count(0) == 1
    # Each model turn ran once: b0's two, b1's four, a report per branch, one integration.
    calls = Counter(script_keys(stack))
    expected = {("b0", 0): 1, ("b0", 1): 1, ("report", 0): 2, ("integrate", 0): 1}
    expected |= {("b1", turn): 1 for turn in range(len(stack.model.scripts["b1"]))}
    assert calls == Counter(expected), calls
    assert sum(n for (key, _), n in calls.items() if key == "b0") == len(stack.model.scripts["b0"])
    shown = json.loads(stack.cli("show", f"{SESSION}-b1", "--json").stdout)
    assert shown["status"] == "completed"
    assert second.returncode == 0  # SIGTERM: graceful shutdown
