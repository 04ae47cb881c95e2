"""Interactive sessions go before batch work on every queue (Temporal task priorities): with an
eval run of 100 questions queued ahead on a worker that makes one model call at a time, a
session started after it has its first model call served next, not after the eval's backlog."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from tests.conftest import Stack
from tests.fakes import FakeModel
from tests.workflow.test_session import ANSWER, QUESTION, answer, call
from workers.client import AskOptions, Evaluations, Sessions
from workers.config import Settings
from workers.eval.data import load_dataset

pytestmark = pytest.mark.slow
BATCH = 100


async def test_interactive_session_is_served_before_a_queued_eval(
    stack: Stack, tmp_path: Path, temporal_address: str
) -> None:
    questions = [f"Batch question {i}: how do otters sleep?" for i in range(BATCH)]
    for question in questions:
        stack.script(
            question, [call("search", {"query": [question]}), "<answer>holding hands</answer>"]
        )
    stack.script(QUESTION, [call("search", {"query": ["now"]}), answer()])
    stack.model.latency = 0.05  # one call at a time (below): a backlog of about 5 s per 100
    dataset = tmp_path / "otters.jsonl"
    dataset.write_text(
        "".join(json.dumps({"question": q, "answer": "hands"}) + "\n" for q in questions)
    )
    with FakeModel() as judge:
        for question in questions:
            judge.scripts[question] = ["Correct"]
        env = {
            **stack.env,
            "DEEPRESEARCH_JUDGE_BASE_URL": f"{judge.url}/v1",
            "DEEPRESEARCH_JUDGE_MODEL": "judge-model",
        }
        settings = Settings(**env)
        sessions = await Sessions.connect(settings)
        evaluations = Evaluations(sessions)
        run_id = await evaluations.start(
            dataset,
            load_dataset(dataset),
            tmp_path / "eval",
            rollouts=1,
            concurrency=BATCH,
            benchmark="simpleqa",
        )
        worker = stack.spawn_worker(
            DEEPRESEARCH_LOCAL_MAX_CONCURRENT="1",
            DEEPRESEARCH_JUDGE_BASE_URL=f"{judge.url}/v1",
            DEEPRESEARCH_JUDGE_MODEL="judge-model",
        )
        client = await Client.connect(temporal_address)
        try:
            # the eval is under way and its backlog is queued: most first calls still wait
            stack.model.wait_for_requests(10, timeout=120)
            started_at = time.monotonic()
            served_before = len(stack.model.research_requests())
            await sessions.start(AskOptions(question=QUESTION), "p-interactive")
            deadline = time.monotonic() + 120
            while not (
                mine := [
                    r for r in stack.model.research_requests() if r.meta.get("question") == QUESTION
                ]
            ):
                assert time.monotonic() < deadline, "the interactive session was never served"
                time.sleep(0.05)
            requests = stack.model.research_requests()
            first = requests.index(mine[0])
            eval_served_meanwhile = first - served_before
            first_call_s = mine[0].at - started_at
            report = await client.get_workflow_handle("p-interactive").result()
            assert report["answer"] == ANSWER
            while len(stack.model.research_requests()) < 2 * BATCH + 2:  # every eval call served
                assert time.monotonic() < deadline + 300, "the eval never drained"
                time.sleep(0.2)
            drained_s = time.monotonic() - started_at
        finally:
            with contextlib.suppress(RPCError):  # done already, or stopped here with its sessions
                await client.get_workflow_handle(run_id).terminate("test over")
            worker.terminate()
            worker.wait(30)
    print(
        f"interactive first call after {first_call_s:.2f} s; eval backlog drained after "
        f"{drained_s:.2f} s; eval calls served in between: {eval_served_meanwhile}"
    )
    # FIFO serves the eval's queued calls first (116 in a run with equal priorities, its first
    # call after 6.4 s of a 10.8 s backlog); by priority it is next after the few calls the
    # worker had already taken (5 in the same run, after 0.33 s)
    assert eval_served_meanwhile <= 20, eval_served_meanwhile
    assert first_call_s < drained_s
