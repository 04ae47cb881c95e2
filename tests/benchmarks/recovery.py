"""Recovery: how long a session takes to move on after its worker is SIGKILLed mid-activity.

    .venv/bin/python -m tests.benchmarks.recovery [--repeats 3] [--heartbeats 2 10]
        [--tool-latency 3] [--sticky 5]

A two-turn session (a slow search, then the answer) on a `deepresearch worker` subprocess. The
worker is SIGKILLed halfway through the search (its request is inside the fake Serper) and a new
worker process is started at once. From the history's event times: seconds from the kill to the
session's next completed step (the retried search) and to its end, for each heartbeat timeout
(DEEPRESEARCH_HEARTBEAT_SECONDS), with DEEPRESEARCH_STICKY_SECONDS fixed; also when the new
process logged that it polls. Baseline in the same run: the same session uninterrupted (the
search's scheduled -> completed, and from it to the session's end). Prints min/median of the
repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from tests.fakes import FakeJina, FakeModel, FakeSerper, fake_env
from tests.processes import DevServer
from workers.config import Settings
from workers.hosting.research_worker import connect
from workers.workflows.models import ResearchInput, ResearchReport
from workers.workflows.research import ResearchWorkflow

REPO = Path(__file__).resolve().parents[2]
QUESTION = "recovery question"
READY = b"research worker polling task queue"
RETRY_INITIAL = Settings.model_fields["retry_initial_seconds"].default


def script() -> list[str]:
    body = json.dumps({"name": "search", "arguments": {"query": ["a slow query"]}})
    return [
        f"<think>search</think>\n<tool_call>\n{body}\n</tool_call>",
        "<think>done</think>\n<answer>42</answer>",
    ]


@dataclass
class Times:
    """Event times (epoch seconds) read back from one session's history."""

    step_scheduled: float  # the search activity
    step_completed: float
    step_attempts: int
    ended: float


async def read_times(client: Client, session_id: str) -> Times:
    """The search activity's scheduled/completed times and attempts, and the session's end."""
    history = await client.get_workflow_handle(session_id).fetch_history()
    scheduled: dict[int, float] = {}
    search_id, completed, attempts, ended = 0, 0.0, 0, 0.0
    for event in history.events:
        at = event.event_time.ToDatetime().timestamp()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name != "llm.think" and not search_id:
                search_id = event.event_id
            scheduled[event.event_id] = at
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            if attrs.scheduled_event_id == search_id:
                attempts = attrs.attempt
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            if event.activity_task_completed_event_attributes.scheduled_event_id == search_id:
                completed = at
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            ended = at
    assert search_id and completed and ended, f"{session_id}: search or end missing"
    return Times(scheduled[search_id], completed, attempts, ended)


class Workers:
    """`deepresearch worker` subprocesses, one alive at a time, each logging to its own file."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.process: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None
        self.log_path = logs
        self.count = 0

    def spawn(self) -> None:
        self.count += 1
        self.log_path = self.logs / f"worker-{self.count}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        command = [sys.executable, "-m", "workers.cli", "worker"]
        self.process = subprocess.Popen(
            command, env=self.env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT
        )

    async def ready(self, timeout: float = 60) -> float:
        """Wait for the worker's 'polling' line; returns time.time() when it was seen."""
        deadline = time.monotonic() + timeout
        while READY not in self.log_path.read_bytes():
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker not ready after {timeout}s")
            await asyncio.sleep(0.05)
        return time.time()

    def kill(self) -> None:
        """SIGKILL, as when the machine dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.log is not None:
            self.log.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        if self.log is not None:
            self.log.close()


async def start(
    client: Client, queue: str, tag: str
) -> WorkflowHandle[ResearchWorkflow, ResearchReport]:
    return await client.start_workflow(
        ResearchWorkflow.run,
        ResearchInput(question=QUESTION),
        id=f"{tag}-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )


async def interrupted(
    client: Client, workers: Workers, serper: FakeSerper, queue: str, tool_latency: float
) -> tuple[float, float, float, int]:
    """One killed session: seconds from the kill to (new worker polling, next completed step,
    session end), and the attempt that completed the step."""
    handle = await start(client, queue, "killed")
    deadline = time.monotonic() + 60
    while serper.in_flight == 0:  # the search request is inside the fake: mid-activity
        if time.monotonic() > deadline:
            raise TimeoutError("the search never reached the fake")
        await asyncio.sleep(0.01)
    await asyncio.sleep(tool_latency / 2)
    workers.kill()
    killed = time.time()
    workers.spawn()
    ready = await workers.ready()
    report = await handle.result()
    assert report.termination == "answer", report.termination
    times = await read_times(client, handle.id)
    assert times.step_completed > killed, "the step completed before the kill"
    return ready - killed, times.step_completed - killed, times.ended - killed, times.step_attempts


def spread(values: list[float]) -> str:
    return f"{min(values):5.1f} / {statistics.median(values):5.1f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--heartbeats", type=float, nargs="+", default=[2.0, 10.0])
    parser.add_argument("--tool-latency", type=float, default=3.0)
    parser.add_argument("--sticky", type=float, default=5.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeJina() as jina,
        FakeSerper(page_base=jina.url) as serper,
        FakeModel() as model,
    ):
        model.scripts[QUESTION] = script()
        serper.latency = args.tool_latency
        server = DevServer(Path(tmp) / "temporal.db").start()
        queue = f"recovery-{uuid.uuid4().hex[:6]}"
        settings = Settings(DEEPRESEARCH_DATA_DIR=tmp)
        base_env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME")},
            "PYTHONPATH": str(REPO),
            "TEMPORAL_ADDRESS": server.address,
            "DEEPRESEARCH_DATA_DIR": tmp,
            "DEEPRESEARCH_TASK_QUEUE": queue,
            "DEEPRESEARCH_STICKY_SECONDS": str(args.sticky),
            **fake_env(model, serper, jina),
        }
        baseline: list[Times] = []
        results: dict[float, list[tuple[float, float, float, int]]] = {}
        workers: Workers | None = None
        try:
            client = await connect(settings, server.address)
            for index, heartbeat in enumerate(args.heartbeats):
                env = {**base_env, "DEEPRESEARCH_HEARTBEAT_SECONDS": str(heartbeat)}
                workers = Workers(env, Path(tmp))
                workers.spawn()
                await workers.ready()
                if index == 0:  # the baseline does not depend on the heartbeat timeout
                    for _ in range(args.repeats):
                        handle = await start(client, queue, "baseline")
                        await handle.result()
                        baseline.append(await read_times(client, handle.id))
                results[heartbeat] = [
                    await interrupted(client, workers, serper, queue, args.tool_latency)
                    for _ in range(args.repeats)
                ]
                workers.stop()
        finally:
            if workers is not None:
                workers.stop()
            server.stop()
    step = [t.step_completed - t.step_scheduled for t in baseline]
    rest = [t.ended - t.step_scheduled for t in baseline]
    lines = [
        f"repeats={args.repeats} tool_latency={args.tool_latency}s (the search) "
        f"sticky={args.sticky}s retry_initial={RETRY_INITIAL}s; "
        "seconds, min / median",
        f"uninterrupted (baseline): step scheduled -> completed {spread(step)}; "
        f"step scheduled -> session end {spread(rest)}",
    ]
    for heartbeat, runs in results.items():
        polling, next_step, end, attempts = (list(column) for column in zip(*runs, strict=True))
        factor = statistics.median(next_step) / statistics.median(step)
        after = statistics.median(e - s for e, s in zip(end, next_step, strict=True))
        lines.append(
            f"heartbeat {heartbeat:4.1f}s, SIGKILL mid-search: kill -> new worker polling "
            f"{spread(polling)}; kill -> next completed step {spread(next_step)} "
            f"(attempt {max(attempts)}; {factor:.1f}x the step); kill -> session end "
            f"{spread(end)} (median step -> end {after:.1f})"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
