"""Temporal's own floor for the concurrency benchmark: the same session shape with nothing of
ours in it, on the same tuned dev server and host.

    .venv/bin/python -m tests.benchmarks.bare [--sessions 200] [--model-latency 1.0]
        [--payload 2000] [--unsandboxed] [--sequential]

N workflows started together, each awaiting five activities in a row as a session of
`concurrency` does (think, search, think, read, think; the read's extraction is its fourth
model call), every activity only sleeping its latency (`bare_workflow.py`), on one worker
process: the SDK's stock worker for the workflows and tools, and a second one on a queue of
its own for the model calls, as our inference pool is. Baseline in the same run: the model
latency alone, the four sleeps of every session in a row, the sessions concurrently. The ratio
is what the SDK and the dev server cost this shape on this machine before any work of ours:
if it alone is above a goal's ratio, no change to our code reaches the goal here.
`--sequential --model-latency 0` runs the sessions one after another: what one activity
costs the SDK and the server, against the ≤ 10 ms per activity of `overhead`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.benchmarks.bare_workflow import LLM_QUEUE_SUFFIX, BareSession, Shape, read, search, think
from tests.benchmarks.concurrency import cpu_seconds, per_session
from tests.processes import DevServer

MODEL_CALLS = 4  # per session: three turns and the read's extraction


async def floor(sessions: int, latency: float) -> float:
    """Wall seconds of the model latency alone: each session's calls in a row, all at once."""

    async def chain() -> None:
        for _ in range(MODEL_CALLS):
            await asyncio.sleep(latency)

    started = time.perf_counter()
    await asyncio.gather(*(chain() for _ in range(sessions)))
    return time.perf_counter() - started


async def bare(server: DevServer, args: argparse.Namespace) -> tuple[float, dict[str, float]]:
    """(wall seconds, CPU seconds by process) of the sessions, after one warm-up session."""
    client = await Client.connect(server.address)
    queue = f"bare-{uuid.uuid4().hex[:6]}"
    shape = Shape(args.model_latency, queue + LLM_QUEUE_SUFFIX, args.payload)
    runner = {"workflow_runner": UnsandboxedWorkflowRunner()} if args.unsandboxed else {}
    assert server.process is not None
    pids = {"worker process": os.getpid(), "dev server": server.process.pid}
    async with (
        Worker(client, task_queue=queue, workflows=[BareSession], activities=[search, read],
               max_concurrent_activities=1000, **runner),
        Worker(client, task_queue=shape.llm_queue, activities=[think],
               max_concurrent_activities=max(8, args.sessions)),
    ):  # fmt: skip
        await client.execute_workflow(BareSession.run, shape, id=f"warm-{queue}", task_queue=queue)
        cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.perf_counter()
        if args.sequential:  # a session that fails raises here, as below
            for i in range(args.sessions):
                await client.execute_workflow(
                    BareSession.run, shape, id=f"{queue}-{i}", task_queue=queue
                )
        else:
            handles = await asyncio.gather(
                *(
                    client.start_workflow(
                        BareSession.run, shape, id=f"{queue}-{i}", task_queue=queue
                    )
                    for i in range(args.sessions)
                )
            )
            await asyncio.gather(*(handle.result() for handle in handles))
        elapsed = time.perf_counter() - started
        return elapsed, {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--model-latency", type=float, default=1.0)
    parser.add_argument("--payload", type=int, default=2000, help="characters per result")
    parser.add_argument("--unsandboxed", action="store_true")
    parser.add_argument(
        "--sequential", action="store_true", help="one session after another (per-activity cost)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = DevServer(Path(tmp) / "temporal.db").start()
        try:
            before = server.requests()
            took, cpu = await bare(server, args)
            requests = server.requests() - before
        finally:
            server.stop()
    least = await floor(args.sessions, args.model_latency)
    activities = 5 * args.sessions
    print(
        f"sessions={args.sessions} model_latency={args.model_latency}s, five activities per "
        f"session ({MODEL_CALLS} model calls), the SDK's stock workers"
        f"{', unsandboxed' if args.unsandboxed else ''}\n"
        f"model latency alone (baseline):  {least:6.1f} s\n"
        f"bare durable sessions:           {took:6.1f} s\n"
        f"ratio bare/baseline (wall time): {took / least:6.2f}\n"
        f"CPU while the sessions ran: {', '.join(f'{k} {v:.1f} s' for k, v in cpu.items())}\n"
        f"per activity (of {activities}): wall {1000 * took / activities:.1f} ms, CPU "
        f"{', '.join(f'{k} {1000 * v / activities:.1f} ms' for k, v in cpu.items())}\n"
        f"dev server requests per session (warm-up included): "
        f"{per_session(requests, args.sessions + 1)}"
    )


if __name__ == "__main__":
    asyncio.run(main())
