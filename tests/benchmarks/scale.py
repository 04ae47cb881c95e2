"""Scale-out: 1, 2 and 4 research-worker processes on one dev server and one S3 bucket.

    .venv/bin/python -m tests.benchmarks.scale [--sessions 60] [--model-latency 0.5]
        [--workers 1,2,4]

For each worker count, a fresh task queue and N `deepresearch worker` processes (each also
fronting the fake model as an inference replica on the shared `llm` queue), every process with
its own data directory and the blobs in a bucket on moto's S3 server. The same M sessions (a
search, a page visit with extraction, the answer: 4 model calls each) are started together from
this process; prints sessions per minute and p50/p95 of a step (`llm.think` scheduled ->
completed, from the histories) and of the gap between steps, then the ratios to the
single-worker run of the same invocation (the baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.benchmarks.concurrency import (
    GAP,
    THINK,
    all_step_times,
    percentile,
    question,
    script,
)
from tests.fakes import FakeJina, FakeModel, FakeSerper, fake_env
from tests.processes import DevServer
from tests.scale.servers import S3Server, s3_env
from workers.config import Settings
from workers.hosting.research_worker import connect
from workers.workflows.models import ResearchInput
from workers.workflows.research import ResearchWorkflow

REPO = Path(__file__).resolve().parents[2]


def spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    output = open(log, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "worker"],
        env=env,
        cwd=REPO,
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def wait_polling(log: Path, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "polling task queue" in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"worker exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"worker not polling after {timeout}s: {log}")


async def run(
    workers: int, sessions: int, base_env: dict[str, str], root: Path, offset: int
) -> tuple[float, dict[str, list[float]]]:
    """(wall seconds for the sessions, step durations) with `workers` worker processes."""
    queue = uuid.uuid4().hex[:6]
    env = {
        **base_env,
        "DEEPRESEARCH_TASK_QUEUE": f"scale-{queue}",
        "DEEPRESEARCH_LLM_QUEUE": f"llm-{queue}",
    }
    processes = []
    try:
        for i in range(workers):
            data = root / f"w{workers}-{i}"
            data.mkdir()
            log = data / "worker.log"
            processes.append(spawn({**env, "DEEPRESEARCH_DATA_DIR": str(data)}, log))
            wait_polling(log, processes[-1])
        client_dir = root / f"client-{workers}"
        client_dir.mkdir()
        settings = Settings(**{**env, "DEEPRESEARCH_DATA_DIR": str(client_dir)})  # type: ignore[arg-type]
        client = await connect(settings, env["TEMPORAL_ADDRESS"])
        warm = await client.execute_workflow(  # worker caches warm, off the clock
            ResearchWorkflow.run,
            ResearchInput(question=question(-1)),
            id=f"scale-warm-{queue}",
            task_queue=settings.task_queue,
        )
        assert warm.termination == "answer"
        ids = [f"scale-{queue}-{i}" for i in range(sessions)]
        started = time.perf_counter()
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    ResearchWorkflow.run,
                    ResearchInput(question=question(offset + i)),
                    id=session_id,
                    task_queue=settings.task_queue,
                )
                for i, session_id in enumerate(ids)
            )
        )
        reports = await asyncio.gather(*(handle.result() for handle in handles))
        elapsed = time.perf_counter() - started
        bad = [r.session_id for r in reports if r.termination != "answer"]
        assert not bad, f"sessions without an answer: {bad[:5]}"
        return elapsed, await all_step_times(client, ids)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--model-latency", type=float, default=0.5)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    n = args.sessions
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeJina() as jina,
        FakeSerper(page_base=jina.url) as serper,
        FakeModel() as model,
    ):
        root = Path(tmp)
        total = n * len(counts)
        model.scripts.update({question(i): script(i, jina.url) for i in range(-1, total)})
        model.latency = args.model_latency
        s3 = S3Server(root / "moto.log").start()
        server = DevServer(root / "temporal.db").start()
        try:
            base_env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(root),
                "PYTHONPATH": str(REPO),
                "TEMPORAL_ADDRESS": server.address,
                **fake_env(model, serper, jina),
                **s3_env(s3.url, s3.create_bucket()),
                "DEEPRESEARCH_LOCAL_MAX_CONCURRENT": str(max(8, n)),
            }
            results = {}
            for k, workers in enumerate(counts):
                results[workers] = await run(workers, n, base_env, root, k * n)
        finally:
            server.stop()
            s3.stop()
    base_took, base_times = results[counts[0]]
    base_rate = 60 * n / base_took
    base_p95 = percentile(base_times[THINK], 95)
    print(
        f"sessions={n} per run, model_latency={args.model_latency}s, 4 model calls per "
        f"session, blobs on S3 (moto), {os.cpu_count()} CPUs; baseline = {counts[0]} worker"
    )
    print("workers  wall s  sessions/min  ratio  step p50  step p95  ratio  gap p95")
    for workers in counts:
        took, times = results[workers]
        rate = 60 * n / took
        p50, p95 = percentile(times[THINK], 50), percentile(times[THINK], 95)
        gap = percentile(times[GAP], 95)
        print(
            f"{workers:7d} {took:7.1f} {rate:13.1f} {rate / base_rate:6.2f} {p50:8.2f}s "
            f"{p95:8.2f}s {p95 / base_p95:6.2f} {gap:7.2f}s"
        )


if __name__ == "__main__":
    asyncio.run(main())
