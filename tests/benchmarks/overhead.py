"""Orchestration overhead: the same scripted session run as plain LangGraph in one process
(baseline) and durably through Temporal, in the same run.

    .venv/bin/python -m tests.benchmarks.overhead [--steps 5] [--model-latency 0] [--tool-latency 0]

Prints wall time of both, the ratio durable/plain and milliseconds of overhead per activity,
and the CPU time each spent (this process: worker, fakes and client; and the dev server), over
`--repeats` sessions after one warm-up (the wall times are medians).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
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
        "read_in_one": True,  # as a new session: a page fetched and extracted in one node
    }


def plain_graph() -> StateGraph:
    """The same topology and I/O node functions, each called directly (no activities)."""
    return make_react_graph(
        think=NodeSpec(llm.think),
        extract=NodeSpec(read.extract),
        tools={"search": NodeSpec(search.search), "fetch": NodeSpec(read.fetch)},
        read=NodeSpec(read.read),
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def plain(settings: Settings, repeats: int) -> tuple[float, float]:
    """Baseline: the same graph and node functions, no Temporal. (median wall, CPU per run)"""
    async with httpx.AsyncClient(timeout=30) as http:
        context.install(build_tool_context(settings, http))
        app = plain_graph().compile()
        await app.ainvoke(initial_state(ResearchLimits()), {"recursion_limit": 10_000})
        walls = []
        cpu = time.process_time()
        for _ in range(repeats):
            started = time.perf_counter()
            final = await app.ainvoke(initial_state(ResearchLimits()), {"recursion_limit": 10_000})
            walls.append(time.perf_counter() - started)
            assert final["termination"] == "answer", final.get("termination")
        cpu = time.process_time() - cpu
    return statistics.median(walls), cpu / repeats


async def durable(
    settings: Settings, server: DevServer, repeats: int
) -> tuple[float, int, float, float]:
    """(median wall, activities per session, this process's CPU and the server's per session)"""
    client = await connect(settings, server.address)
    assert server.process is not None
    async with research_worker(settings, client):
        await client.execute_workflow(  # warm-up: worker caches, first workflow task
            ResearchWorkflow.run,
            ResearchInput(question=QUESTION),
            id=f"warm-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
        )
        walls = []
        cpu, server_cpu = time.process_time(), cpu_seconds(server.process.pid)
        for _ in range(repeats):
            session_id = f"bench-{uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            report = await client.execute_workflow(
                ResearchWorkflow.run,
                ResearchInput(question=QUESTION),
                id=session_id,
                task_queue=settings.task_queue,
            )
            walls.append(time.perf_counter() - started)
            assert report.termination == "answer"
        cpu = time.process_time() - cpu
        server_cpu = cpu_seconds(server.process.pid) - server_cpu
    history = await client.get_workflow_handle(session_id).fetch_history()
    activities = sum(
        1 for e in history.events if e.HasField("activity_task_completed_event_attributes")
    )
    return statistics.median(walls), activities, cpu / repeats, server_cpu / repeats


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--model-latency", type=float, default=0.0)
    parser.add_argument("--tool-latency", type=float, default=0.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--stock",
        action="store_true",
        help="Also run the durable side on a stock dev server (without devserver.tuning_args: "
        "the server's default dispatch rate and SQLite journal), in the same run.",
    )
    parser.add_argument(
        "--db-dir", help="Folder of the dev server's database (e.g. /dev/shm: no disk latency)."
    )
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
        settings = fake_settings(model, serper, jina, tmp)
        base, base_cpu = await plain(settings, args.repeats)
        runs = {
            "durable (Temporal):": True,
            **({"durable, stock server:": False} if args.stock else {}),
        }
        measured = {}
        for label, tuned in runs.items():
            db = Path(args.db_dir or tmp) / f"bench-{uuid.uuid4().hex[:8]}.db"
            server = DevServer(db, tuned=tuned).start()
            try:
                measured[label] = await durable(settings, server, args.repeats)
            finally:
                server.stop()
    print(
        f"steps={args.steps} model_latency={args.model_latency}s "
        f"tool_latency={args.tool_latency}s repeats={args.repeats} (medians)\n"
        f"plain LangGraph (baseline): {base * 1000:8.1f} ms   CPU {base_cpu * 1000:6.1f} ms"
    )
    for label, (took, activities, cpu, server_cpu) in measured.items():
        print(
            f"{label:<27} {took * 1000:8.1f} ms   CPU {cpu * 1000:6.1f} ms "
            f"+ dev server {server_cpu * 1000:6.1f} ms   ({activities} activities)\n"
            f"  ratio durable/plain:      {took / base:8.2f}\n"
            f"  overhead per activity:    {(took - base) * 1000 / activities:8.1f} ms wall, "
            f"{(cpu - base_cpu) * 1000 / activities:.1f} ms CPU here + "
            f"{server_cpu * 1000 / activities:.1f} ms in the dev server"
        )


if __name__ == "__main__":
    asyncio.run(main())
