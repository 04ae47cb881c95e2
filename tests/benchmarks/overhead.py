"""Orchestration overhead: the same scripted session run as plain LangGraph in one process
(baseline) and durably through Temporal, in the same run.

    .venv/bin/python -m tests.benchmarks.overhead [--steps 5] [--model-latency 0] [--tool-latency 0]

Prints wall time of both, the ratio durable/plain and milliseconds of overhead per activity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from langgraph.graph import StateGraph

from activities import context, llm, read, search
from graphs.react import NodeSpec, make_react_graph
from graphs.state import ResearchLimits
from tests.benchmarks.settings import fake_settings
from tests.fakes import FakeJina, FakeModel, FakeSerper
from tests.processes import DevServer
from workers.config import Settings
from workers.hosting.research_worker import build_tool_context, connect, research_worker
from workers.workflows.models import ResearchInput
from workers.workflows.research import ResearchWorkflow

QUESTION = "benchmark question"


def script(steps: int, jina_url: str) -> list[str]:
    """Alternate searches (2 queries) and visits (2 URLs); the last turn answers."""
    turns = []
    for i in range(steps - 1):
        if i % 2 == 0:
            args = {"query": [f"q{i}a", f"q{i}b"]}
            name = "search"
        else:
            args = {"url": [f"{jina_url}/page/p{i}a", f"{jina_url}/page/p{i}b"], "goal": "g"}
            name = "visit"
        body = json.dumps({"name": name, "arguments": args})
        turns.append(f"<think>step {i}</think>\n<tool_call>\n{body}\n</tool_call>")
    return [*turns, "<think>done</think>\n<answer>42</answer>"]


def initial_state(limits: ResearchLimits) -> dict[str, object]:
    from langchain_core.messages import HumanMessage

    now = time.time()
    return {
        "question": QUESTION,
        "today": "2026-01-01",
        "deadline": now + limits.wall_clock_seconds,
        "clock": now,
        "limits": limits.model_dump(),
        "sampling": {},
        "messages": [HumanMessage(content=QUESTION, id="question")],
        "llm_calls": 0,
        "tool_calls": 0,
    }


def plain_graph() -> StateGraph:
    """The same topology and I/O node functions, each called directly (no activities)."""
    return make_react_graph(
        think=NodeSpec(llm.think),
        extract=NodeSpec(read.extract),
        tools={"search": NodeSpec(search.search), "fetch": NodeSpec(read.fetch)},
    )


async def plain(settings: Settings) -> float:
    """Baseline: the same graph and node functions, no Temporal."""
    async with httpx.AsyncClient(timeout=30) as http:
        context.install(build_tool_context(settings, http))
        app = plain_graph().compile()
        started = time.perf_counter()
        final = await app.ainvoke(initial_state(ResearchLimits()), {"recursion_limit": 10_000})
        elapsed = time.perf_counter() - started
    assert final["termination"] == "answer", final.get("termination")
    return elapsed


async def durable(settings: Settings, address: str) -> tuple[float, int]:
    client = await connect(settings, address)
    async with research_worker(settings, client):
        await client.execute_workflow(  # warm-up: worker caches, first workflow task
            ResearchWorkflow.run,
            ResearchInput(question=QUESTION),
            id=f"warm-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
        )
        session_id = f"bench-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        report = await client.execute_workflow(
            ResearchWorkflow.run,
            ResearchInput(question=QUESTION),
            id=session_id,
            task_queue=settings.task_queue,
        )
        elapsed = time.perf_counter() - started
    history = await client.get_workflow_handle(session_id).fetch_history()
    activities = sum(
        1 for e in history.events if e.HasField("activity_task_completed_event_attributes")
    )
    assert report.termination == "answer"
    return elapsed, activities


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--model-latency", type=float, default=0.0)
    parser.add_argument("--tool-latency", type=float, default=0.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeJina() as jina,
        FakeSerper(page_base=jina.url) as serper,
        FakeModel() as model,
    ):
        model.scripts[QUESTION] = script(args.steps, jina.url)
        model.latency, serper.latency, jina.latency = (
            args.model_latency,
            args.tool_latency,
            args.tool_latency,
        )
        server = DevServer(Path(tmp) / "db").start()
        try:
            settings = fake_settings(model, serper, jina, tmp)
            base = await plain(settings)
            took, activities = await durable(settings, server.address)
        finally:
            server.stop()
    print(
        f"steps={args.steps} model_latency={args.model_latency}s "
        f"tool_latency={args.tool_latency}s\n"
        f"plain LangGraph (baseline): {base * 1000:8.1f} ms\n"
        f"durable (Temporal):         {took * 1000:8.1f} ms   ({activities} activities)\n"
        f"ratio durable/plain:        {took / base:8.2f}\n"
        f"overhead per activity:      {(took - base) * 1000 / activities:8.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
