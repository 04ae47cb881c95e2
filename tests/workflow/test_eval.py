"""`deepresearch eval`: a small dataset against the fake model and a fake judge; killed mid-run
and re-run, it completes without redoing finished sessions and with the same metrics."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CLI, REPO, Stack
from tests.fakes import FakeModel
from tests.workflow.test_session import call

QUESTIONS = [
    ("Who won the 2024 Turing Award?", "Barto and Sutton", "Barto and Sutton"),
    ("What is the capital of Australia?", "Canberra", "Sydney"),
    ("A question the model cannot answer?", "42", None),  # no script: the model errors
]


@pytest.fixture
def dataset(stack: Stack, tmp_path: Path) -> Path:
    path = tmp_path / "small.jsonl"
    path.write_text(
        "".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a, _ in QUESTIONS)
    )
    for question, _, prediction in QUESTIONS:
        if prediction is not None:
            stack.script(
                question,
                [call("search", {"query": [question]}), f"<answer>{prediction}</answer>"],
            )
    return path


@pytest.fixture
def judge(stack: Stack) -> FakeModel:
    with FakeModel() as fake:
        fake.scripts[QUESTIONS[0][0]] = ["Correct"]
        fake.scripts[QUESTIONS[1][0]] = ["Incorrect"]
        stack.env["DEEPRESEARCH_JUDGE_BASE_URL"] = f"{fake.url}/v1"
        stack.env["DEEPRESEARCH_JUDGE_MODEL"] = "judge-model"
        yield fake


def run_eval(stack: Stack, dataset: Path, out: Path) -> subprocess.CompletedProcess[str]:
    args = ["eval", str(dataset), "--rollouts", "2", "--concurrency", "2", "--out", str(out)]
    return stack.cli(*args, timeout=300)


def test_eval_writes_the_reference_files_and_metrics(
    stack: Stack, dataset: Path, judge: FakeModel, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = run_eval(stack, dataset, out)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["avg_pass_at_k"] == pytest.approx(33.33, abs=0.01)
    assert summary["best_pass_at_1"] == pytest.approx(33.33, abs=0.01)
    assert summary["pass_at_k"] == pytest.approx(33.33, abs=0.01)
    for rollout in (1, 2):
        records = [
            json.loads(line) for line in (out / f"iter{rollout}.jsonl").read_text().splitlines()
        ]
        assert [r["question"] for r in records][:2] == [QUESTIONS[0][0], QUESTIONS[1][0]]
        assert (
            records[0]["prediction"] == "Barto and Sutton"
            and records[0]["answer"] == "Barto and Sutton"
        )
        assert records[0]["messages"][0]["role"] == "system"
        assert records[2]["prediction"] == "[Failed]" and "error" in records[2]
        scored = [
            json.loads(line)
            for line in (out / f"iter{rollout}_scored.jsonl").read_text().splitlines()
        ]
        assert [s["correct"] for s in scored] == [True, False, False]
    # The failed question was judged without a call; the others once per rollout.
    assert len(judge.research_requests()) == 4
    assert (out / "chart.png").read_bytes().startswith(b"\x89PNG")
    status = stack.cli("eval", "--status", str(out))
    assert status.returncode == 0 and "completed" in status.stdout


def test_killed_eval_resumes_without_redoing_sessions(
    stack: Stack, dataset: Path, judge: FakeModel, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    stack.serper.latency = 1.0
    args = ["eval", str(dataset), "--rollouts", "2", "--concurrency", "2", "--out", str(out)]
    first = subprocess.Popen([*CLI, *args], env=stack.env, cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while len([r for r in stack.model.research_requests() if r.meta.get("turn") == 1]) < 2:
        assert time.monotonic() < deadline, "the eval made no progress"
        time.sleep(0.1)  # two sessions have finished their search
    # Later model calls hang (never answered), so no answered call is in flight at the kill:
    # a call answered but not yet recorded would be sent again (at least once, not exactly).
    stack.model.hang_next(100)
    while len(judge.research_requests()) < 2:  # both finished sessions recorded and judged
        assert time.monotonic() < deadline, "the first sessions were never judged"
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    stack.model.clear_faults()
    stack.serper.latency = 0
    result = run_eval(stack, dataset, out)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["avg_pass_at_k"] == pytest.approx(33.33, abs=0.01)
    # Every (question, rollout, turn) was answered by the model exactly once.
    answered = [
        (r.meta["question"], r.meta["turn"])
        for r in stack.model.research_requests()
        if r.status == 200
    ]
    for question, _, _ in QUESTIONS[:2]:
        assert answered.count((question, 0)) == 2 and answered.count((question, 1)) == 2
    assert sorted(stack.serper.queries()) == sorted([q for q, _, p in QUESTIONS[:2]] * 2)


def test_rerunning_a_finished_eval_redoes_nothing(
    stack: Stack, dataset: Path, judge: FakeModel, tmp_path: Path
) -> None:
    """As the reference skips (question, rollout) pairs its output files hold, so does a
    second run of a finished evaluation: only the failed sessions run (and fail) again."""
    out = tmp_path / "twice"
    first = run_eval(stack, dataset, out)
    assert first.returncode == 0, first.stderr
    before = (out / "summary.json").read_text()
    lines = {k: (out / f"iter{k}_scored.jsonl").read_text() for k in (1, 2)}
    research, judged = len(stack.model.research_requests()), len(judge.research_requests())
    second = run_eval(stack, dataset, out)
    assert second.returncode == 0, second.stderr
    again = stack.model.research_requests()[research:]
    # Only the question without a script (its sessions failed) is asked again.
    assert {r.meta.get("question") for r in again} <= {QUESTIONS[2][0]}
    assert len(judge.research_requests()) == judged  # no answer was judged twice
    assert json.loads((out / "summary.json").read_text()) == json.loads(before)
    for k in (1, 2):
        assert (out / f"iter{k}_scored.jsonl").read_text() == lines[k]
