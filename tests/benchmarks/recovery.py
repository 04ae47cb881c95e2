"""Recovery: how long a session takes to move on after a worker is SIGKILLed mid-call.

    .venv/bin/python -m tests.benchmarks.recovery [--kill model|inference|search]
        [--repeats 3] [--heartbeats S ...] [--latency 2] [--sticky S]

A three-turn session (search, search, answer). `--kill model` (default): the `deepresearch
worker` process (it hosts the session and fronts the fake model) is SIGKILLed while the fake
model holds the session's second model call, and a new worker is started at once.
`--kill inference`: a separate `deepresearch inference-worker` (replica r0) is SIGKILLed mid
model call and restarted at once; the research worker (`--no-inference`) lives on.
`--kill search`: the worker is killed while the fake Serper holds the first search. The held
call takes `--latency` seconds each attempt (a model call: before its first token, so that the
new process's health check of the model is answered at once). Measured from the kill (event
times in history, the fakes' request times): the new process polling, the killed call's next
attempt started (its ActivityTaskStarted event) and reaching the fake, that step completing,
the session's following step completing, the session's end.
`--heartbeats` (DEEPRESEARCH_HEARTBEAT_SECONDS) and `--sticky` default to the settings'
defaults. Baseline in the same run: the same session uninterrupted (the held step's scheduled
-> completed). Prints min / median of the repeats.
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

from tests.fakes import FakeJina, FakeModel, FakeSerper, FakeServer, fake_env
from tests.processes import DevServer
from workers.config import Settings
from workers.hosting.research_worker import connect
from workers.workflows.models import ResearchInput, ResearchReport
from workers.workflows.research import ResearchWorkflow

REPO = Path(__file__).resolve().parents[2]
QUESTION = "recovery question"
WORKER_READY = b"research worker polling task queue"
REPLICA_READY = b"server healthy, polling"
DEFAULTS = Settings.model_fields
THINK = "llm.think"


def script() -> list[str]:
    def search(query: str) -> str:
        body = json.dumps({"name": "search", "arguments": {"query": [query]}})
        return f"<think>search</think>\n<tool_call>\n{body}\n</tool_call>"

    done = "<think>done</think>\n<answer>42</answer>"
    return [search("first query"), search("second query"), done]


@dataclass
class Steps:
    """Completed activities of one session in order: (type, scheduled, completed epoch
    seconds, attempt), when each completed one's last attempt started, and the session's end."""

    done: list[tuple[str, float, float, int]]
    started: list[float]
    ended: float

    def held(self, kind: str) -> int:
        """Index of the step the fake holds: the second model call, or the first search."""
        names = [name for name, *_ in self.done]
        if kind == "search":
            return names.index("research.search")
        return [i for i, name in enumerate(names) if name == THINK][1]


async def read_steps(client: Client, session_id: str) -> Steps:
    history = await client.get_workflow_handle(session_id).fetch_history()
    scheduled: dict[int, tuple[str, float]] = {}
    attempts: dict[int, tuple[int, float]] = {}
    done: list[tuple[str, float, float, int]] = []
    started: list[float] = []
    ended = 0.0
    for event in history.events:
        at = event.event_time.ToDatetime().timestamp()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, at)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            attempts[attrs.scheduled_event_id] = (attrs.attempt, at)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            key = event.activity_task_completed_event_attributes.scheduled_event_id
            name, begun = scheduled[key]
            attempt, began = attempts.get(key, (1, begun))
            done.append((name, begun, at, attempt))
            started.append(began)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            ended = at
    assert ended, f"{session_id} did not complete"
    return Steps(done, started, ended)


class Process:
    """One `deepresearch ...` subprocess alive at a time, each logging to its own file."""

    def __init__(self, args: list[str], env: dict[str, str], logs: Path, ready: bytes) -> None:
        self.args, self.env, self.logs, self.ready_line = args, env, logs, ready
        self.process: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None
        self.log_path = logs
        self.count = 0

    def spawn(self) -> None:
        self.count += 1
        self.log_path = self.logs / f"{self.args[0]}-{self.count}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", *self.args],
            env=self.env,
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self, timeout: float = 60) -> float:
        """Wait for the process's ready line; returns time.time() when it was seen."""
        deadline = time.monotonic() + timeout
        while self.ready_line not in self.log_path.read_bytes():
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.args[0]} exited: {self.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.args[0]} not ready after {timeout}s")
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


@dataclass
class Recovery:
    """Seconds from the kill."""

    polling: float  # the new process is polling
    started: float  # the server started the killed call's next attempt
    attempt: float  # the killed call's next attempt reached the fake
    step: float  # that step completed
    following: float  # the session's next step completed
    end: float
    attempts: int  # the attempt that completed the step


async def interrupted(
    client: Client, victim: Process, held: FakeServer, kind: str, queue: str, latency: float
) -> Recovery:
    """One session whose `victim` is killed while `held` answers the held call."""
    before = len(held.records(lambda r: r.method == "POST"))
    handle = await start(client, queue, "killed")
    # The fake's records before the held call is in flight: a model call is recorded when its
    # headers go out (it is held before its first token), a search when it is answered.
    answered = 2 if kind != "search" else 0
    deadline = time.monotonic() + 60
    while len(held.records(lambda r: r.method == "POST")) < before + answered or not held.in_flight:
        if time.monotonic() > deadline:
            raise TimeoutError("the held call never reached the fake")
        await asyncio.sleep(0.01)
    await asyncio.sleep(latency / 2)
    victim.kill()
    killed, killed_mono = time.time(), time.monotonic()
    victim.spawn()
    ready = await victim.ready()
    report = await handle.result()
    assert report.termination == "answer", report.termination
    steps = await read_steps(client, handle.id)
    index = steps.held(kind)
    _, _, completed, attempts = steps.done[index]
    assert completed > killed, "the held step completed before the kill"
    retried = held.records(lambda r: r.method == "POST" and r.at > killed_mono)
    return Recovery(
        polling=ready - killed,
        started=steps.started[index] - killed,
        attempt=min(r.at for r in retried) - killed_mono,
        step=completed - killed,
        following=steps.done[index + 1][2] - killed,
        end=steps.ended - killed,
        attempts=attempts,
    )


def spread(values: list[float]) -> str:
    return f"{min(values):5.1f} / {statistics.median(values):5.1f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kill", choices=["model", "inference", "search"], default="model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--heartbeats", type=float, nargs="+", default=[DEFAULTS["heartbeat_seconds"].default]
    )
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--sticky", type=float, default=DEFAULTS["sticky_seconds"].default)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeJina() as jina,
        FakeSerper(page_base=jina.url) as serper,
        FakeModel() as model,
    ):
        model.scripts[QUESTION] = script()
        held: FakeServer = serper if args.kill == "search" else model
        if args.kill == "search":
            serper.latency = args.latency
        else:  # the call is held, not the replica's health check (`/v1/models`)
            model.first_token_delay = args.latency
        server = DevServer(Path(tmp) / "temporal.db").start()
        queue = f"recovery-{uuid.uuid4().hex[:6]}"
        settings = Settings(DEEPRESEARCH_DATA_DIR=tmp)
        base_env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME")},
            "PYTHONPATH": str(REPO),
            "TEMPORAL_ADDRESS": server.address,
            "DEEPRESEARCH_DATA_DIR": tmp,
            "DEEPRESEARCH_TASK_QUEUE": queue,
            "DEEPRESEARCH_LLM_QUEUE": f"llm-{queue}",
            "DEEPRESEARCH_STICKY_SECONDS": str(args.sticky),
            **fake_env(model, serper, jina),
        }
        baseline: list[Steps] = []
        results: dict[float, list[Recovery]] = {}
        running: list[Process] = []
        try:
            client = await connect(settings, server.address)
            for index, heartbeat in enumerate(args.heartbeats):
                env = {**base_env, "DEEPRESEARCH_HEARTBEAT_SECONDS": str(heartbeat)}
                research = Process(["worker"], env, Path(tmp), WORKER_READY)
                running = [research]
                victim = research
                if args.kill == "inference":
                    research.args = ["worker", "--no-inference"]
                    victim = Process(
                        ["inference-worker", "--endpoint", f"{model.url}/v1", "--replica", "r0"],
                        env,
                        Path(tmp),
                        REPLICA_READY,
                    )
                    running.append(victim)
                for process in running:
                    process.spawn()
                    await process.ready()
                if index == 0:  # the baseline does not depend on the heartbeat timeout
                    for _ in range(args.repeats):
                        handle = await start(client, queue, "baseline")
                        await handle.result()
                        baseline.append(await read_steps(client, handle.id))
                results[heartbeat] = [
                    await interrupted(client, victim, held, args.kill, queue, args.latency)
                    for _ in range(args.repeats)
                ]
                for process in running:
                    process.stop()
        finally:
            for process in running:
                process.stop()
            server.stop()
    held_step = [s.done[s.held(args.kill)] for s in baseline]
    step = [completed - begun for _, begun, completed, _ in held_step]
    victim_name = {"model": "worker", "inference": "inference worker", "search": "worker"}
    lines = [
        f"kill={args.kill} (the {victim_name[args.kill]}, mid "
        f"{'search' if args.kill == 'search' else 'model call'}) repeats={args.repeats} "
        f"latency={args.latency}s sticky={args.sticky}s "
        f"retry_initial={DEFAULTS['retry_initial_seconds'].default}s; seconds, min / median",
        f"uninterrupted (baseline): held step scheduled -> completed {spread(step)}",
    ]
    for heartbeat, runs in results.items():
        factor = statistics.median(r.step for r in runs) / statistics.median(step)
        lines.append(
            f"heartbeat {heartbeat:4.1f}s: kill -> new process polling "
            f"{spread([r.polling for r in runs])}; -> next attempt started "
            f"{spread([r.started for r in runs])}; -> at the fake "
            f"{spread([r.attempt for r in runs])}; -> step completed "
            f"{spread([r.step for r in runs])} (attempt {max(r.attempts for r in runs)}; "
            f"{factor:.1f}x the step); -> next step completed "
            f"{spread([r.following for r in runs])}; -> session end {spread([r.end for r in runs])}"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
