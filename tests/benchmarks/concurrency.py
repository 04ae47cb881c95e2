"""Concurrency: many sessions at once on one research worker, against the model-latency floor.

    .venv/bin/python -m tests.benchmarks.concurrency [--sessions 200] [--model-latency 1.0]

N sessions (each: a search with one query, a visit of one URL, the answer: 3 research turns plus
one page extraction, i.e. 4 model calls) started together on ONE in-process research worker that
also fronts the fake model as inference replica `local`, with the pool's concurrency raised to N
so the pool is not the bottleneck. Prints sessions per minute; p50/p95 of a step (one `llm.think`
activity, scheduled -> completed, from the histories) and of the gap between steps (think
completed -> next think scheduled: the tool work and orchestration in between) with each
tool activity's scheduled -> completed; and the process's peak RSS (the Python heap is not
traced: tracemalloc would slow the run it measures). Baseline in the same run: every session's
model requests replayed straight to the same fake with `activities.llm.chat`, the sessions
concurrently and each one's calls in order, i.e. the floor that the model latency alone sets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.context import ModelEndpoint
from activities.llm import chat
from graphs.state import Sampling
from tests.benchmarks.settings import fake_settings
from tests.fakes import FakeJina, FakeModel, FakeSerper
from tests.processes import DevServer
from workers.config import Settings
from workers.hosting.research_worker import connect, research_worker
from workers.workflows.models import ResearchInput
from workers.workflows.research import ResearchWorkflow

WARM_UP = "concurrency warm-up"
THINK = "llm.think"
GAP = "between steps"


def question(i: int) -> str:
    return f"concurrency question {i}"


def goal(i: int) -> str:
    """Unique per session, so the fake's extraction requests can be told apart by session."""
    return f"facts for session {i}"


def script(i: int, jina_url: str) -> list[str]:
    def call(name: str, arguments: dict[str, Any]) -> str:
        body = json.dumps({"name": name, "arguments": arguments})
        return f"<think>step</think>\n<tool_call>\n{body}\n</tool_call>"

    return [
        call("search", {"query": [f"session {i} query"]}),
        call("visit", {"url": [f"{jina_url}/page/s{i}"], "goal": goal(i)}),
        f"<think>done</think>\n<answer>answer {i}</answer>",
    ]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def peak_rss_mib() -> float:
    """This process's peak resident set (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def step_times(client: Client, session_id: str) -> dict[str, list[float]]:
    """Seconds from one session's history: each activity's scheduled -> completed by activity
    type, and under GAP each think completed -> next think scheduled."""
    history = await client.get_workflow_handle(session_id).fetch_history()
    scheduled: dict[int, tuple[str, float]] = {}
    times: dict[str, list[float]] = defaultdict(list)
    last_think: float | None = None
    for event in history.events:
        at = event.event_time.ToDatetime().timestamp()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, at)
            if name == THINK and last_think is not None:
                times[GAP].append(at - last_think)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            name, begun = scheduled[attrs.scheduled_event_id]
            times[name].append(at - begun)
            if name == THINK:
                last_think = at
    return times


async def durable(
    settings: Settings, address: str, model: FakeModel, sessions: int, latency: float
) -> tuple[float, dict[str, list[float]], float, float]:
    """(wall seconds for all sessions, durations by activity type and GAP, RSS before the
    worker, peak RSS)."""
    client = await connect(settings, address)
    rss_before = peak_rss_mib()
    async with research_worker(settings, client):
        model.latency = 0  # warm-up: worker caches and the first workflow task, off the clock
        await client.execute_workflow(
            ResearchWorkflow.run,
            ResearchInput(question=WARM_UP),
            id=f"warm-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
        )
        model.latency = latency
        tag = uuid.uuid4().hex[:6]
        ids = [f"conc-{tag}-{i}" for i in range(sessions)]
        started = time.perf_counter()
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    ResearchWorkflow.run,
                    ResearchInput(question=question(i)),
                    id=session_id,
                    task_queue=settings.task_queue,
                )
                for i, session_id in enumerate(ids)
            )
        )
        reports = await asyncio.gather(*(handle.result() for handle in handles))
        elapsed = time.perf_counter() - started
        rss_peak = peak_rss_mib()
    bad = [r.session_id for r in reports if r.termination != "answer"]
    assert not bad, f"sessions without an answer: {bad[:5]}"
    limit = asyncio.Semaphore(16)

    async def read(session_id: str) -> dict[str, list[float]]:
        async with limit:
            return await step_times(client, session_id)

    times: dict[str, list[float]] = defaultdict(list)
    for session in await asyncio.gather(*(read(session_id) for session_id in ids)):
        for name, durations in session.items():
            times[name].extend(durations)
    return elapsed, times, rss_before, rss_peak


def requests_by_session(model: FakeModel, sessions: int) -> list[list[dict[str, Any]]]:
    """Each session's model requests (research turns and the page extraction), in order."""
    owner = {question(i): i for i in range(sessions)} | {goal(i): i for i in range(sessions)}
    chains: dict[int, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    for record in model.records(lambda r: r.status == 200 and "kind" in r.meta):
        key = record.meta.get("question") or record.meta.get("goal")
        if key in owner:
            chains[owner[key]].append((record.at, record.body))
    return [[body for _, body in sorted(chains[i], key=lambda c: c[0])] for i in range(sessions)]


async def baseline(model: FakeModel, chains: list[list[dict[str, Any]]]) -> tuple[float, int]:
    """(wall seconds, calls): the same requests straight to the fake, sessions concurrently."""
    client = AsyncOpenAI(base_url=f"{model.url}/v1", api_key="x", max_retries=0, timeout=120)
    endpoint = ModelEndpoint(client, "fake-model")

    async def session(chain: list[dict[str, Any]]) -> None:
        for body in chain:
            await chat(endpoint, body["messages"], Sampling(), stop=body.get("stop"))

    started = time.perf_counter()
    await asyncio.gather(*(session(chain) for chain in chains))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed, sum(len(chain) for chain in chains)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--model-latency", type=float, default=1.0)
    args = parser.parse_args()
    n = args.sessions
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeJina() as jina,
        FakeSerper(page_base=jina.url) as serper,
        FakeModel() as model,
    ):
        model.scripts[WARM_UP] = script(-1, jina.url)
        model.scripts.update({question(i): script(i, jina.url) for i in range(n)})
        server = DevServer(Path(tmp) / "temporal.db").start()
        try:
            # the pool takes every session's call at once: the model latency is the limit
            settings = fake_settings(
                model, serper, jina, tmp, DEEPRESEARCH_LOCAL_MAX_CONCURRENT=max(8, n)
            )
            took, times, rss_before, rss_peak = await durable(
                settings, server.address, model, n, args.model_latency
            )
        finally:
            server.stop()
        chains = requests_by_session(model, n)
        floor, calls = await baseline(model, chains)
    durable_rate, floor_rate = 60 * n / took, 60 * n / floor

    def spread(name: str) -> str:
        values = times[name]
        return f"p50 {percentile(values, 50):.2f} s, p95 {percentile(values, 95):.2f} s"

    others = "; ".join(
        f"{name.rsplit('.', 1)[-1]} {spread(name)}"
        for name in sorted(times)
        if name not in (THINK, GAP)
    )
    print(
        f"sessions={n} model_latency={args.model_latency}s "
        f"(search, visit, answer: {calls // n} model calls per session), one research worker\n"
        f"model calls straight to the fake (baseline): {floor:7.1f} s  "
        f"{floor_rate:7.1f} sessions/min\n"
        f"durable sessions on one worker:              {took:7.1f} s  "
        f"{durable_rate:7.1f} sessions/min\n"
        f"ratio durable/baseline (wall time):          {took / floor:7.2f}\n"
        f"step = llm.think scheduled -> completed ({len(times[THINK])} steps): "
        f"{spread(THINK)}\n"
        f"between steps = think completed -> next think scheduled ({len(times[GAP])}): "
        f"{spread(GAP)}\n"
        f"  activities between steps, scheduled -> completed: {others}\n"
        f"peak RSS of this process (worker + fakes + client): {rss_peak:.0f} MiB "
        f"({rss_before:.0f} MiB before the worker started, "
        f"{(rss_peak - rss_before) * 1024 / n:.0f} KiB per session)"
    )


if __name__ == "__main__":
    asyncio.run(main())
