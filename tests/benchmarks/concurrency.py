"""Concurrency: many sessions at once on one research worker, against the model-latency floor.

    .venv/bin/python -m tests.benchmarks.concurrency [--sessions 200] [--model-latency 1.0]
        [--fakes-in-process | --inference-apart] [--stock-server] [--json]

N sessions (each: a search with one query, a visit of one URL, the answer: 3 research turns plus
one page extraction, i.e. 4 model calls) started together on ONE in-process research worker that
also fronts the fake model as inference replica `local`, with the pool's concurrency raised to N
so the pool is not the bottleneck (`--inference-apart`: a `deepresearch inference-worker`
process of its own takes the research turns instead, as in production). Prints sessions per
minute; p50/p95 of a step (one `llm.think` activity, scheduled -> completed, from the histories)
and of the gap between steps (think completed -> next think scheduled: the tool work and
orchestration in between) with each tool activity's scheduled -> completed; and the process's
peak RSS (the Python heap is not traced: tracemalloc would slow the run it measures). Baseline
in the same run: every session's model requests replayed straight to the same fake with
`activities.llm.chat`, the sessions concurrently and each one's calls in order, i.e. the floor
that the model latency alone sets. The fakes run in a process of their own
(tests/benchmarks/fakes_process.py), as the model server and the tools are other machines in
production; `--fakes-in-process` runs them in the worker's process, sharing its interpreter (how
this benchmark ran first). Also prints the CPU seconds of the worker process, the dev server and
the fakes, calls that needed a retry, and the dev server's API calls and database operations per
session (from its Prometheus metrics), the busiest first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client

from activities.context import ModelEndpoint
from activities.llm import chat
from graphs.state import Sampling
from tests.benchmarks.fakes_process import FakesProcess
from tests.fakes import FakeJina, FakeModel, FakeSerper, fake_env
from tests.processes import DevServer, InferenceProcess
from workers.config import Settings
from workers.hosting.research_worker import connect, research_worker
from workers.workflows.models import ResearchInput
from workers.workflows.research import ResearchWorkflow

WARM_UP = "concurrency warm-up"
THINK = "llm.think"
GAP = "between steps"
RETRIED = "retried"  # activities whose completing attempt was not the first
CAUSE = "retried after: "  # + the failure of the attempt before
TIMED_OUT = "timed out: "  # + activity type and timeout (a think re-routed from its replica)


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib() -> float:
    """This process's peak resident set (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_peak_mib(pid: int) -> float:
    """Another process's peak resident set so far (VmHWM in /proc, KiB)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def step_times(client: Client, session_id: str) -> dict[str, list[float]]:
    """Seconds from one session's history: each activity's scheduled -> completed by activity
    type, and under GAP each think completed -> next think scheduled."""
    history = await client.get_workflow_handle(session_id).fetch_history()
    scheduled: dict[int, tuple[str, float]] = {}
    times: dict[str, list[float]] = defaultdict(list)
    last_think: float | None = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if started.attempt > 1:
                times[RETRIED].append(1.0)
                failure = started.last_failure
                cause = failure.message or failure.cause.message or "unknown"
                name = scheduled[started.scheduled_event_id][0]
                times[f"{CAUSE}{cause[:80]} ({name})"].append(1.0)
        at = event.event_time.ToDatetime().timestamp()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, at)
            if name == THINK and last_think is not None:
                times[GAP].append(at - last_think)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            attrs = event.activity_task_timed_out_event_attributes
            name = scheduled[attrs.scheduled_event_id][0]
            kind = TimeoutType.Name(attrs.failure.timeout_failure_info.timeout_type)
            times[f"{TIMED_OUT}{name}, {kind.removeprefix('TIMEOUT_TYPE_').lower()}"].append(1.0)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            name, begun = scheduled[attrs.scheduled_event_id]
            times[name].append(at - begun)
            if name == THINK:
                last_think = at
    return times


async def all_step_times(client: Client, ids: list[str]) -> dict[str, list[float]]:
    """`step_times` of every session, merged by step name (16 history reads at a time)."""
    limit = asyncio.Semaphore(16)

    async def read(session_id: str) -> dict[str, list[float]]:
        async with limit:
            return await step_times(client, session_id)

    times: dict[str, list[float]] = defaultdict(list)
    for session in await asyncio.gather(*(read(session_id) for session_id in ids)):
        for name, durations in session.items():
            times[name].extend(durations)
    return times


@dataclass
class Run:
    elapsed: float
    times: dict[str, list[float]]
    rss_before: float
    rss_peak: float
    cpu: dict[str, float]  # CPU seconds during the sessions, by process
    peaks: dict[str, float]  # peak RSS (MiB) by process, the worker's included
    failed: list[str]  # sessions that failed, timed out or ended without an answer
    lag: list[float]  # the worker's event loop: how late each 0.1 s sleep woke up (seconds)
    requests: Counter[str]  # the dev server's API and database requests while they ran


async def loop_lag(samples: list[float], every: float = 0.1) -> None:
    """Until cancelled: how late the event loop wakes a sleeper (a late heartbeat is as late)."""
    while True:
        asked = time.perf_counter()
        await asyncio.sleep(every)
        samples.append(time.perf_counter() - asked - every)


async def durable(
    settings: Settings,
    server: DevServer,
    set_latency: Callable[[float], None],
    sessions: int,
    latency: float,
    fakes_pid: int | None,
    inference: InferenceProcess | None = None,
) -> Run:
    """The sessions on one in-process worker (fronting the model too unless `inference` runs
    apart): wall time, durations by activity type and GAP, RSS, CPU of each process while they
    ran."""
    client = await connect(settings, server.address)
    rss_before = peak_rss_mib()
    assert server.process is not None
    pids = {"worker process": os.getpid(), "dev server": server.process.pid}
    if fakes_pid is not None:
        pids["fakes process"] = fakes_pid
    if inference is not None and inference.process is not None:
        pids["inference process"] = inference.process.pid
    async with research_worker(settings, client, inference=inference is None):
        set_latency(0)  # warm-up: worker caches and the first workflow task, off the clock
        await client.execute_workflow(
            ResearchWorkflow.run,
            ResearchInput(question=WARM_UP),
            id=f"warm-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
        )
        set_latency(latency)
        tag = uuid.uuid4().hex[:6]
        ids = [f"conc-{tag}-{i}" for i in range(sessions)]
        cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        requests = server.requests()
        lag: list[float] = []
        probe = asyncio.create_task(loop_lag(lag))
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
        reports = await asyncio.gather(
            *(handle.result() for handle in handles), return_exceptions=True
        )
        elapsed = time.perf_counter() - started
        probe.cancel()
        cpu = {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()}
        requests = server.requests() - requests
        rss_peak = peak_rss_mib()
        peaks = {name: process_peak_mib(pid) for name, pid in pids.items()}
    bad = [
        (session_id, report)
        for session_id, report in zip(ids, reports, strict=True)
        if isinstance(report, BaseException) or report.termination != "answer"
    ]
    failed = [session_id for session_id, _ in bad]
    why = Counter(
        (str(getattr(report, "cause", None) or report) if isinstance(report, BaseException)
         else f"ended: {report.termination}")[:120]
        for _, report in bad
    )  # fmt: skip
    for reason, count in why.most_common(5):
        print(f"failed ({count}): {reason}", file=sys.stderr)
    times = await all_step_times(client, ids)
    return Run(elapsed, times, rss_before, rss_peak, cpu, peaks, failed, lag, requests)


def requests_by_session(records: list[dict[str, Any]], sessions: int) -> list[list[dict[str, Any]]]:
    """Each session's model requests (research turns and the page extraction), in order."""
    owner = {question(i): i for i in range(sessions)} | {goal(i): i for i in range(sessions)}
    chains: dict[int, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    for record in records:
        key = record.get("question") or record.get("goal")
        if key in owner:
            chains[owner[key]].append((record["at"], record["body"]))
    return [[body for _, body in sorted(chains[i], key=lambda c: c[0])] for i in range(sessions)]


def model_records(model: FakeModel) -> list[dict[str, Any]]:
    return [
        {"at": r.at, "body": r.body, **{k: r.meta.get(k) for k in ("question", "goal")}}
        for r in model.records(lambda r: r.status == 200 and "kind" in r.meta)
    ]


async def baseline(model_url: str, chains: list[list[dict[str, Any]]]) -> tuple[float, int]:
    """(wall seconds, calls): the same requests straight to the fake, sessions concurrently."""
    client = AsyncOpenAI(base_url=f"{model_url}/v1", api_key="x", max_retries=0, timeout=120)
    endpoint = ModelEndpoint(client, "fake-model")

    async def session(chain: list[dict[str, Any]]) -> None:
        for body in chain:
            await chat(endpoint, body["messages"], Sampling(), stop=body.get("stop"))

    started = time.perf_counter()
    await asyncio.gather(*(session(chain) for chain in chains))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed, sum(len(chain) for chain in chains)


def bench_settings(env: dict[str, str], data_dir: str, sessions: int) -> Settings:
    """A fresh task queue; the pool takes every session's call at once (the model latency is
    the limit, not the pool)."""
    return Settings(
        **env,
        DEEPRESEARCH_DATA_DIR=data_dir,
        DEEPRESEARCH_TASK_QUEUE=f"bench-{uuid.uuid4().hex[:6]}",
        DEEPRESEARCH_LOCAL_MAX_CONCURRENT=max(8, sessions),
    )


async def run_in_process(n: int, latency: float, tmp: str, tuned: bool) -> tuple[Run, float, int]:
    with FakeJina() as jina, FakeSerper(page_base=jina.url) as serper, FakeModel() as model:
        model.scripts[WARM_UP] = script(-1, jina.url)
        model.scripts.update({question(i): script(i, jina.url) for i in range(n)})
        server = DevServer(Path(tmp) / "temporal.db", tuned=tuned).start()
        try:
            settings = bench_settings(fake_env(model, serper, jina), tmp, n)

            def set_latency(seconds: float) -> None:
                model.latency = seconds

            run = await durable(settings, server, set_latency, n, latency, None)
        finally:
            server.stop()
        floor, calls = await baseline(model.url, requests_by_session(model_records(model), n))
    return run, floor, calls


async def run_apart(
    n: int, latency: float, tmp: str, tuned: bool, inference_apart: bool = False
) -> tuple[Run, float, int]:
    with FakesProcess(n) as fakes:
        server = DevServer(Path(tmp) / "temporal.db", tuned=tuned).start()
        inference = None
        try:
            settings = bench_settings(fakes.env, tmp, n)
            if inference_apart:
                env = {**os.environ, **fakes.env, "DEEPRESEARCH_DATA_DIR": tmp,
                       "TEMPORAL_ADDRESS": server.address}  # fmt: skip
                endpoint = fakes.env["OPENAI_BASE_URL"]
                inference = InferenceProcess(env, endpoint, "local", max(8, n)).start()
            run = await durable(
                settings, server, fakes.set_latency, n, latency, fakes.pid, inference
            )
        finally:
            if inference is not None:
                inference.stop()
            server.stop()
        floor, calls = await baseline(fakes.model_url, requests_by_session(fakes.records(), n))
    return run, floor, calls


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--model-latency", type=float, default=1.0)
    parser.add_argument("--fakes-in-process", action="store_true")
    parser.add_argument("--json", action="store_true", help="one JSON object (for curve.py)")
    parser.add_argument(
        "--inference-apart",
        action="store_true",
        help="the model calls on a `deepresearch inference-worker` process of their own (as "
        "in production), not on the research worker",
    )
    parser.add_argument(
        "--stock-server",
        action="store_true",
        help="a dev server without devserver.tuning_args (for an old-vs-new comparison)",
    )
    args = parser.parse_args()
    n = args.sessions
    with tempfile.TemporaryDirectory() as tmp:
        tuned = not args.stock_server
        if args.fakes_in_process:
            run, floor, calls = await run_in_process(n, args.model_latency, tmp, tuned)
        else:
            run, floor, calls = await run_apart(
                n, args.model_latency, tmp, tuned, args.inference_apart
            )
    took, times = run.elapsed, run.times
    durable_rate, floor_rate = 60 * n / took, 60 * n / floor
    if args.json:
        print(json.dumps(summary(n, run, floor, calls)))
        raise SystemExit(1 if run.failed else 0)

    def spread(name: str) -> str:
        values = times[name]
        return f"p50 {percentile(values, 50):.2f} s, p95 {percentile(values, 95):.2f} s"

    others = "; ".join(
        f"{name.rsplit('.', 1)[-1]} {spread(name)}"
        for name in sorted(times)
        if name not in (THINK, GAP, RETRIED) and not name.startswith((CAUSE, TIMED_OUT))
    )
    timed_out = "; ".join(
        f"{name.removeprefix(TIMED_OUT)} ({len(times[name])})"
        for name in times
        if name.startswith(TIMED_OUT)
    )
    causes = "; ".join(
        f"{name.removeprefix(CAUSE)} ({len(times[name])})"
        for name in times
        if name.startswith(CAUSE)
    )
    lag = run.lag or [0.0]
    where = "in the worker's process" if args.fakes_in_process else "in a process of their own"
    cpu = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in run.cpu.items())
    print(
        f"sessions={n} model_latency={args.model_latency}s "
        f"(search, visit, answer: {calls // n} model calls per session), one research worker"
        f"{', inference worker apart' if args.inference_apart else ''}, "
        f"fakes {where}\n"
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
        f"activities retried (attempt > 1): {len(times[RETRIED])} {causes}\n"
        f"activities timed out (a think past its replica's affinity wait is re-scheduled on "
        f"the shared queue): {timed_out or 'none'}\n"
        f"worker event-loop lag (a 0.1 s sleep woke late by): p50 {percentile(lag, 50):.3f} s, "
        f"p95 {percentile(lag, 95):.3f} s, max {max(run.lag, default=0.0):.2f} s\n"
        f"CPU while the sessions ran: {cpu}\n"
        f"dev server requests per session: {per_session(run.requests, n)}\n"
        f"peak RSS of the worker process (with the client"
        f"{', fakes' if args.fakes_in_process else ''}): {run.rss_peak:.0f} MiB "
        f"({run.rss_before:.0f} MiB before the worker started, "
        f"{(run.rss_peak - run.rss_before) * 1024 / n:.0f} KiB per session)\n"
        f"peak RSS by process: {', '.join(f'{k} {v:.0f} MiB' for k, v in run.peaks.items())}\n"
        f"sessions failed or without an answer: {len(run.failed)} {run.failed[:5]}"
    )
    if run.failed:
        raise SystemExit(1)


def per_session(requests: Counter[str], n: int, top: int = 8) -> str:
    """The dev server's busiest request kinds, per session, and the totals of each kind."""
    totals = Counter({kind: 0.0 for kind in ("frontend", "persistence")})
    for name, count in requests.items():
        totals[name.split(" ", 1)[0]] += count / n
    busiest = ", ".join(f"{name} {count / n:.1f}" for name, count in requests.most_common(top))
    calls, operations = totals["frontend"], totals["persistence"]
    return f"{calls:.1f} API calls, {operations:.1f} database operations ({busiest})"


def summary(n: int, run: Run, floor: float, calls: int) -> dict[str, Any]:
    """The run's numbers, for `tests.benchmarks.curve`."""

    lag = run.lag or [0.0]

    def spread(name: str) -> list[float]:
        values = run.times[name] or [0.0]
        return [percentile(values, 50), percentile(values, 95)]

    return {
        "sessions": n,
        "failed": len(run.failed),
        "durable_s": run.elapsed,
        "floor_s": floor,
        "ratio": run.elapsed / floor,
        "sessions_per_min": 60 * n / run.elapsed,
        "model_calls": calls,
        "step_s": spread(THINK),
        "between_steps_s": spread(GAP),
        "retried": len(run.times[RETRIED]),
        "loop_lag_s": [percentile(lag, 50), percentile(lag, 95)],
        "cpu_s": run.cpu,
        "peak_rss_mib": run.peaks,
        "server_requests_per_session": {k: v / n for k, v in run.requests.most_common()},
    }


if __name__ == "__main__":
    asyncio.run(main())
