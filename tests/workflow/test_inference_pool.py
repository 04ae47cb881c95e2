"""The inference pool: three fake model servers as replicas behind `deepresearch
inference-worker`s; research workers host no model calls."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from tests.conftest import CLI, REPO, Stack
from tests.fakes import FakeModel
from tests.workflow.test_session import call

TURNS = 6


def script(i: int) -> list[str]:
    searches = [call("search", {"query": [f"topic {i} part {k}"]}) for k in range(TURNS - 1)]
    return [*searches, f"<think>done</think>\n<answer>answer {i}</answer>"]


class Pool:
    def __init__(self, stack: Stack, models: list[FakeModel]) -> None:
        self.stack, self.models = stack, models
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, index: int, max_concurrent: int = 4) -> None:
        name = f"r{index}"
        log = open(self.stack.data_dir / f"inference-{name}.log", "ab")  # noqa: SIM115
        command = [*CLI, "inference-worker", "--endpoint", f"{self.models[index].url}/v1",
                   "--replica", name, "--max-concurrent", str(max_concurrent)]  # fmt: skip
        self.processes[name] = subprocess.Popen(
            command, env=self.stack.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(30)

    def turns_by_replica(self, question: str) -> Counter[int]:
        return Counter(
            index
            for index, model in enumerate(self.models)
            for record in model.research_requests()
            if record.status == 200 and record.meta.get("question") == question
        )


@contextmanager
def pool(stack: Stack, replicas: int = 3, max_concurrent: int = 4) -> Iterator[Pool]:
    with ExitStack() as stack_of_fakes:
        models = [stack_of_fakes.enter_context(FakeModel()) for _ in range(replicas)]
        for model in models:
            model.scripts.update({f"question {i}": script(i) for i in range(8)})
        running = Pool(stack, models)
        for index in range(replicas):
            running.start(index, max_concurrent)
        research = stack.spawn_worker("research.log")
        research_args = research.args
        research.terminate()
        research.wait(20)
        worker = subprocess.Popen(
            [*research_args, "--no-inference"],  # research workers host no model calls
            env=stack.env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield running
        finally:
            worker.terminate()
            worker.wait(30)
            running.stop()


def session_id(stack: Stack, i: int) -> str:
    return f"{stack.env['DEEPRESEARCH_TASK_QUEUE']}-{i}"  # unique to the test


def start(stack: Stack, i: int) -> None:
    sid = session_id(stack, i)
    result = stack.cli("ask", f"question {i}", "--id", sid, "--detach", "--no-worker")
    assert result.returncode == 0, result.stderr


def wait(stack: Stack, i: int) -> dict[str, object]:
    sid = session_id(stack, i)
    result = stack.cli("ask", f"question {i}", "--id", sid, "--json", "--no-worker")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_sessions_stay_on_one_replica(stack: Stack) -> None:
    with pool(stack) as running:
        for i in range(4):
            start(stack, i)
        reports = [wait(stack, i) for i in range(4)]
        assert [r["answer"] for r in reports] == [f"answer {i}" for i in range(4)]
        for i in range(4):
            spread = running.turns_by_replica(f"question {i}")
            assert sum(spread.values()) == TURNS
            assert max(spread.values()) / TURNS >= 0.95, spread  # all on one replica
        assert stack.model.requests == []  # the research worker made no model call


def test_failover_when_a_replica_dies(stack: Stack) -> None:
    stack.serper.latency = 0.5  # sessions take a few seconds
    with pool(stack) as running:
        start(stack, 0)
        deadline = time.monotonic() + 60
        while sum(running.turns_by_replica("question 0").values()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        serving = running.turns_by_replica("question 0").most_common(1)[0][0]
        running.models[serving].stop()  # that GPU server is gone
        killed = time.monotonic()
        report = wait(stack, 0)
        print(f"failover: session done {time.monotonic() - killed:.1f}s after its replica died")
        assert report["answer"] == "answer 0" and report["llm_calls"] == TURNS
        spread = running.turns_by_replica("question 0")
        assert sum(spread.values()) == TURNS
        assert len([index for index in spread if index != serving]) == 1  # moved, then stayed


def test_backpressure_caps_generations_per_replica(stack: Stack) -> None:
    with pool(stack, replicas=1, max_concurrent=1) as running:
        running.models[0].latency = 0.3
        for i in range(3):
            start(stack, i)
        reports = [wait(stack, i) for i in range(3)]
        assert all(r["termination"] == "answer" for r in reports)
        assert running.models[0].max_in_flight == 1  # the rest waited in Temporal


def test_a_hung_generation_is_retried_after_the_stall_timeout(stack: Stack) -> None:
    # The worker lives (it heartbeats on); the server sends nothing: the stall timeout ends it.
    stack.env["DEEPRESEARCH_MODEL_STALL_SECONDS"] = "3"
    with pool(stack, replicas=1) as running:
        running.models[0].hang_next(1)  # the first generation never sends a token
        started = time.monotonic()
        start(stack, 0)
        report = wait(stack, 0)
        took = time.monotonic() - started
        print(f"hung generation detected and retried; session took {took:.1f}s")
        assert report["answer"] == "answer 0"
        assert took < 30  # the stall timeout (3 s), not the 600 s model timeout


def test_no_health_probe_while_generating(stack: Stack) -> None:
    """An inference worker does not probe /models while one of its generations is in flight
    (llama-cpp-python's server cuts the stream it is sending at any other request); it probes
    every 2 s when idle."""
    with pool(stack, replicas=1) as running:
        model = running.models[0]
        model.latency = 3.0  # each generation takes 3 s
        start(stack, 0)
        assert wait(stack, 0)["answer"] == "answer 0"
        time.sleep(3)  # idle: the worker probes again
    posts = [r.at for r in model.records(lambda r: r.method == "POST")]
    probes = [r.at for r in model.records(lambda r: r.path.startswith("/v1/models"))]
    assert len(posts) == TURNS
    during = [p for p in probes for at in posts if at + 0.1 < p < at + model.latency - 0.1]
    assert during == []
    assert probes and max(probes) > max(posts)  # idle again: probing again


@pytest.fixture(autouse=True)
def _model_timeout(stack: Stack) -> None:
    stack.env["DEEPRESEARCH_AFFINITY_SECONDS"] = "2"
