"""Soak: concurrent sessions under tool faults, a worker SIGKILL and a dev-server SIGKILL.

    .venv/bin/python -m tests.benchmarks.soak [--sessions 20] [--fault-rate 0.3]

Runs every session once fault-free (the baseline), then again with a share of Serper/Jina
requests failing (429, 503, hangs past the tool timeout), the worker killed with SIGKILL and
replaced after a quarter of the model turns, and the dev server killed and restarted on the
same database at half. Prints: sessions completed / started; sessions whose model saw exactly
the baseline's final conversation; completed tool calls executed twice (from the fakes' logs).
Target: all, all, 0.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.service import RPCError

from tests.fakes import FakeJina, FakeModel, FakeSerper, fake_env
from tests.processes import DevServer
from workers.client.timeline import read_timeline, session_histories
from workers.config import Settings
from workers.hosting.research_worker import connect
from workers.workflows.models import ResearchInput
from workers.workflows.research import ResearchWorkflow

REPO = Path(__file__).resolve().parents[2]


@dataclass
class SoakResult:
    started: int
    completed: int
    same_as_baseline: int
    executed_twice: int
    retried_in_flight: int
    seconds: float
    # sessions that had not had their last model turn when each kill landed (worker, server)
    unfinished_at_kills: list[int] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"sessions completed: {self.completed}/{self.started}; "
            f"same conversation as fault-free: {self.same_as_baseline}/{self.started}; "
            f"completed tool calls executed twice: {self.executed_twice} "
            f"(calls cut off in flight and retried: {self.retried_in_flight}); "
            f"wall time {self.seconds:.1f}s; unfinished at each kill: {self.unfinished_at_kills}"
        )


def _call(name: str, arguments: dict[str, Any]) -> str:
    body = json.dumps({"name": name, "arguments": arguments})
    return f"<think>.</think>\n<tool_call>\n{body}\n</tool_call>"


def _script(i: int, run: str, jina_url: str) -> list[str]:
    urls = [f"{jina_url}/page/{run}-{i}-{k}" for k in (1, 2)]
    return [
        _call("search", {"query": [f"{run} {i} alpha", f"{run} {i} beta"]}),
        _call("visit", {"url": urls, "goal": f"facts for {i}"}),
        f"<think>done</think>\n<answer>answer {i}</answer>",
    ]


async def _result(settings: Settings, address: str, session_id: str, deadline: float) -> Any:
    """Wait for a session's report, riding out the dev server's restart."""
    while time.monotonic() < deadline:
        try:
            client = await connect(settings, address)
            return await client.get_workflow_handle_for(ResearchWorkflow.run, session_id).result()
        except (RPCError, RuntimeError):
            await asyncio.sleep(1)
    return None


async def soak(
    sessions: int = 20,
    fault_rate: float = 0.3,
    kill_worker: bool = True,
    restart_server: bool = True,
    timeout: float = 600,
    seed: int = 7,
) -> SoakResult:
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeJina() as jina,
        FakeSerper(page_base=jina.url) as serper,
        FakeModel() as model,
    ):
        server = DevServer(Path(tmp) / "temporal.db")
        server.start()
        address = f"127.0.0.1:{server.port}"
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME")},
            "PYTHONPATH": str(REPO),
            "TEMPORAL_ADDRESS": address,
            "DEEPRESEARCH_DATA_DIR": tmp,
            "DEEPRESEARCH_TASK_QUEUE": "soak",
            "DEEPRESEARCH_HEARTBEAT_SECONDS": "2",
            "DEEPRESEARCH_STICKY_SECONDS": "2",
            "DEEPRESEARCH_TOOL_TIMEOUT_SECONDS": "3",
            "DEEPRESEARCH_TOOL_ATTEMPTS": "10",
            "DEEPRESEARCH_RETRY_INITIAL_SECONDS": "0.2",
            **fake_env(model, serper, jina),
        }
        settings = Settings(DEEPRESEARCH_DATA_DIR=tmp)
        log = open(Path(tmp) / "workers.log", "ab")  # noqa: SIM115

        def spawn() -> subprocess.Popen[bytes]:
            command = [sys.executable, "-m", "workers.cli", "worker"]
            return subprocess.Popen(
                command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )

        async def run(tag: str) -> list[Any]:
            client = await connect(settings, address)
            deadline = time.monotonic() + timeout
            for i in range(sessions):
                question = f"soak question {i}"
                model.scripts[question] = _script(i, "soak", jina.url)
                await client.start_workflow(
                    ResearchWorkflow.run,
                    ResearchInput(question=question),
                    id=f"{tag}-{i}",
                    task_queue="soak",
                )
            return list(
                await asyncio.gather(
                    *(_result(settings, address, f"{tag}-{i}", deadline) for i in range(sessions))
                )
            )

        def final_prompts() -> dict[str, list[dict[str, str]]]:
            last: dict[str, list[dict[str, str]]] = {}
            for record in model.research_requests():
                if record.status == 200 and record.meta.get("turn") == 2:
                    last[record.meta["question"]] = record.body["messages"][1:]
            return last

        worker = spawn()
        try:
            await run("baseline")
            baseline = final_prompts()
            for fake in (model, serper, jina):
                fake.clear_log()
            serper.chaos(fault_rate, seed=seed, hang_seconds=5)
            jina.chaos(fault_rate, seed=seed + 1, hang_seconds=5)
            started = time.monotonic()
            results = asyncio.ensure_future(run("soak"))
            turns = 3 * sessions
            kills: list[int] = []

            def unfinished() -> int:
                """Sessions whose last (third) model turn has not been answered yet."""
                answered = {
                    r.meta["question"]
                    for r in model.research_requests()
                    if r.status == 200 and r.meta.get("turn") == 2
                }
                return sessions - len(answered)

            if kill_worker:
                await _until(lambda: len(model.research_requests()) >= turns // 4, timeout)
                kills.append(unfinished())
                worker.kill()
                worker.wait(10)
                worker = spawn()
            if restart_server:
                await _until(lambda: len(model.research_requests()) >= turns // 2, timeout)
                kills.append(unfinished())
                server.kill()
                server.start()
            reports = await results
            seconds = time.monotonic() - started
            attempts = await _tool_attempts(
                settings, address, [f"soak-{i}" for i in range(sessions)]
            )
        finally:
            worker.terminate()
            worker.wait(30)
            server.kill()
            log.close()
        soaked = final_prompts()
        ok = Counter(
            (r.body or {}).get("q") or r.path.removeprefix("/")
            for fake in (serper, jina)
            for r in fake.requests
            if r.status == 200
        )
        repeats = {key: n - 1 for key, n in ok.items() if n > 1}
        # A repeat is expected when its one activity needed that many more attempts: the earlier
        # attempt was cut off (worker killed, server restarted) after the fake had answered.
        unexplained = sum(
            extra
            for key, extra in repeats.items()
            if len(attempts.get(key, [])) != 1 or attempts[key][0] <= extra
        )
        return SoakResult(
            started=sessions,
            completed=sum(1 for r in reports if r is not None and r.termination == "answer"),
            same_as_baseline=sum(
                1 for q, messages in soaked.items() if baseline.get(q) == messages
            ),
            executed_twice=unexplained,
            retried_in_flight=sum(repeats.values()) - unexplained,
            seconds=seconds,
            unfinished_at_kills=kills,
        )


async def _tool_attempts(
    settings: Settings, address: str, session_ids: list[str]
) -> dict[str, list[int]]:
    """Query/URL -> the attempt count of each search/fetch activity that used it."""
    client = await connect(settings, address)
    found: dict[str, list[int]] = {}
    for session_id in session_ids:
        timeline = await read_timeline(client, await session_histories(client, session_id))
        for step in timeline["steps"]:
            reads = step["node"] in ("fetch", "read")
            key = step.get("query") or (step.get("url") if reads else None)
            if key:
                found.setdefault(key, []).append(step.get("attempts", 1))
    return found


async def _until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("soak: the sessions made no progress")
        await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result = asyncio.run(soak(args.sessions, args.fault_rate, seed=args.seed))
    print(result.line())


if __name__ == "__main__":
    main()
