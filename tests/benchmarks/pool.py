"""Inference pool: cache affinity, failover time and the pool's overhead per model call.

    .venv/bin/python -m tests.benchmarks.pool [--sessions 6] [--turns 8]

Three fake model servers behind three `deepresearch inference-worker` processes, one research
worker with no inference of its own. Prints: the share of each session's model calls served by
its main replica; seconds from killing the replica serving a session to that session's next
answered model call; and the pool's overhead per model call, against calling the same server
directly with the same prompts, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from openai import AsyncOpenAI
from temporalio.client import Client

from activities.context import ModelEndpoint
from activities.llm import chat
from graphs.state import Sampling
from tests.fakes import FakeJina, FakeModel, FakeSerper
from tests.processes import DevServer
from workers.config import Settings
from workers.hosting.research_worker import connect, research_worker
from workers.workflows.models import ResearchInput
from workers.workflows.research import ResearchWorkflow

REPO = Path(__file__).resolve().parents[2]


def _script(i: int, turns: int) -> list[str]:
    def call(k: int) -> str:
        body = json.dumps({"name": "search", "arguments": {"query": [f"s{i} q{k}"]}})
        return f"<think>.</think>\n<tool_call>\n{body}\n</tool_call>"

    return [*(call(k) for k in range(turns - 1)), f"<answer>{i}</answer>"]


def _served(models: list[FakeModel], question: str) -> list[tuple[float, int]]:
    return sorted(
        (record.at, index)
        for index, model in enumerate(models)
        for record in model.research_requests()
        if record.status == 200 and record.meta.get("question") == question
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--turns", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as fakes:
        jina = fakes.enter_context(FakeJina())
        serper = fakes.enter_context(FakeSerper(page_base=jina.url))
        models = [fakes.enter_context(FakeModel()) for _ in range(3)]
        questions = [f"pool question {i}" for i in range(args.sessions + 1)]
        for model in models:
            model.scripts.update({q: _script(i, args.turns) for i, q in enumerate(questions)})
        server = DevServer(Path(tmp) / "temporal.db").start()
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME")},
            "PYTHONPATH": str(REPO),
            "TEMPORAL_ADDRESS": server.address,
            "DEEPRESEARCH_DATA_DIR": tmp,
            "DEEPRESEARCH_MODEL": "fake-model",
            "DEEPRESEARCH_HEARTBEAT_SECONDS": "2",
            "DEEPRESEARCH_AFFINITY_SECONDS": "2",
        }
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "workers.cli",
                    "inference-worker",
                    "--endpoint",
                    f"{model.url}/v1",
                    "--replica",
                    f"r{i}",
                    "--max-concurrent",
                    "8",
                ],
                env=env,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for i, model in enumerate(models)
        ]
        settings = Settings(
            TEMPORAL_ADDRESS=server.address,
            DEEPRESEARCH_DATA_DIR=tmp,
            OPENAI_BASE_URL=f"{models[0].url}/v1",
            DEEPRESEARCH_MODEL="fake-model",
            SERPER_API_KEY=serper.api_key,
            SERPER_BASE_URL=serper.url,
            JINA_API_KEY=jina.api_key,
            JINA_BASE_URL=jina.url,
            DEEPRESEARCH_HEARTBEAT_SECONDS=2,
            DEEPRESEARCH_AFFINITY_SECONDS=2,
        )
        try:
            client = await connect(settings, server.address)
            async with research_worker(settings, client, inference=False):
                # 1. affinity
                handles = [
                    await client.start_workflow(
                        ResearchWorkflow.run,
                        ResearchInput(question=q),
                        id=f"pool-{i}",
                        task_queue=settings.task_queue,
                    )
                    for i, q in enumerate(questions[:-1])
                ]
                await asyncio.gather(*(h.result() for h in handles))
                shares = []
                for q in questions[:-1]:
                    counts = Counter(index for _, index in _served(models, q))
                    shares.append(max(counts.values()) / sum(counts.values()))
                # 2. failover
                serper.latency = 0.3
                last = questions[-1]
                handle = await client.start_workflow(
                    ResearchWorkflow.run,
                    ResearchInput(question=last),
                    id="pool-failover",
                    task_queue=settings.task_queue,
                )
                while len(_served(models, last)) < 2:
                    await asyncio.sleep(0.02)
                victim = _served(models, last)[-1][1]
                models[victim].stop()
                killed = time.monotonic()
                before = len(_served(models, last))
                while len(_served(models, last)) == before:
                    await asyncio.sleep(0.02)
                failover = _served(models, last)[-1][0] - killed
                await handle.result()
                serper.latency = 0
                alone = await client.start_workflow(  # one session alone: no contention
                    ResearchWorkflow.run,
                    ResearchInput(question=questions[0]),
                    id="pool-alone",
                    task_queue=settings.task_queue,
                )
                await alone.result()
                pooled_calls = await _call_durations(client, ["pool-alone"])
        finally:
            for process in workers:
                process.terminate()
            for process in workers:
                process.wait(30)
            server.stop()
        # 3. baseline: the same prompts straight to a server, one after another
        prompts = [
            record.body["messages"]
            for model in models
            for record in model.research_requests()
            if record.status == 200 and record.meta.get("question") in questions[:-1]
        ]
        alive = next(m for i, m in enumerate(models) if i != victim)
        direct = ModelEndpoint(
            AsyncOpenAI(base_url=f"{alive.url}/v1", api_key="x", max_retries=0), "fake-model"
        )
        direct_calls = []
        for messages in prompts:
            started = time.perf_counter()
            await chat(direct, messages, Sampling())
            direct_calls.append(time.perf_counter() - started)
    pool_ms = 1000 * sum(pooled_calls) / len(pooled_calls)
    direct_ms = 1000 * sum(direct_calls) / len(direct_calls)
    print(
        f"affinity: main replica served {min(shares):.0%} (worst session) / "
        f"{sum(shares) / len(shares):.0%} (mean) of each session's model calls\n"
        f"failover: {failover:.2f}s from killing a session's replica to its next answered call\n"
        f"model call: {direct_ms:.1f} ms direct (baseline, same prompts, same server) vs "
        f"{pool_ms:.1f} ms through the pool (scheduled -> completed, one session alone, "
        f"{len(pooled_calls)} calls): {pool_ms / direct_ms:.1f}x, "
        f"{pool_ms - direct_ms:.1f} ms overhead per call"
    )


async def _call_durations(client: Client, session_ids: list[str]) -> list[float]:
    """Seconds from scheduling each model-call activity to its completion, from history."""
    durations = []
    for session_id in session_ids:
        history = await client.get_workflow_handle(session_id).fetch_history()
        scheduled: dict[int, float] = {}
        for event in history.events:
            at = event.event_time.ToDatetime().timestamp()
            if event.HasField("activity_task_scheduled_event_attributes"):
                if event.activity_task_scheduled_event_attributes.activity_type.name == "llm.think":
                    scheduled[event.event_id] = at
            elif event.HasField("activity_task_completed_event_attributes"):
                begun = scheduled.get(
                    event.activity_task_completed_event_attributes.scheduled_event_id
                )
                if begun is not None:
                    durations.append(at - begun)
    return durations


if __name__ == "__main__":
    asyncio.run(main())
