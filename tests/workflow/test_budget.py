"""Session budgets against a real dev server, real worker processes and the loopback fakes:
the forced answer when a bound runs out, a durable pause that survives a killed worker and
goes on after a top-up without repeating a call, spending in every view, and bad input."""

from __future__ import annotations

import asyncio
import json
import signal
import time

from temporalio.client import Client

from graphs import prompts
from tests.conftest import Stack
from tests.workflow.test_session import QUESTION, answer, ask_json, call, wait_for_turns

PRICES = json.dumps(
    {"models": {"*": {"prompt": 1.0, "completion": 2.0}}, "search": 0.01, "page": 0.002}
)


def test_one_search_then_the_forced_answer(stack: Stack) -> None:
    """budget.searches = 1: of the turn's two queries one goes to the provider, the other is
    answered as skipped; then the reference's forced-answer prompt, termination `budget`."""
    stack.script(
        QUESTION,
        [call("search", {"query": ["turing award 2024", "turing award rl"]}), answer()],
    )
    report = ask_json(
        stack, "--id", "s-budget-1", "--budget-searches", "1", DEEPRESEARCH_PRICES=PRICES
    )
    assert stack.serper.queries() == ["turing award 2024"]
    assert report["termination"] == "budget"
    assert report["answer"].startswith("Andrew Barto")
    turns = stack.model.research_requests()
    assert len(turns) == 2
    last = turns[1].body["messages"][-1]["content"]
    assert last == prompts.FORCED_ANSWER_PROMPT  # it overwrote the tool response, as the reference
    spent = report["spent"]
    assert (spent["searches"], spent["pages"]) == (1, 0)
    tokens = report["prompt_tokens"] + report["completion_tokens"]
    assert spent["tokens"] == tokens > 0
    expected = report["prompt_tokens"] / 1e6 + report["completion_tokens"] * 2 / 1e6 + 0.01
    assert abs(spent["usd"] - expected) < 1e-6
    assert report["budget"]["searches"] == 1


def test_pause_survives_a_killed_worker_and_a_top_up_goes_on(stack: Stack) -> None:
    """on_budget pause: the second turn's search waits for budget, holding no activity; the
    worker is killed and another started meanwhile; a top-up resumes the same turn, and the
    session completes with each model call and each search made once."""
    stack.script(
        QUESTION,
        [call("search", {"query": ["first"]}), call("search", {"query": ["second"]}), answer()],
    )
    started = stack.cli(
        "ask", QUESTION, "--id", "s-pause", "--detach", "--no-worker",
        "--budget-searches", "1", "--on-budget", "pause",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    worker = stack.spawn_worker()
    try:
        wait_for_turns(stack, 2)
        view = wait_for_status(stack, "s-pause", "awaiting_budget")
        assert view["progress"]["awaiting_budget"] == "searches"
        assert view["progress"]["spent"]["searches"] == 1
        assert asyncio.run(pending_activities(stack, "s-pause")) == 0  # it holds nothing
        pending = stack.cli("show", "s-pause")
        assert pending.returncode == 0, pending.stderr
        assert "awaiting budget" in pending.stdout + pending.stderr
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(20)
    assert stack.serper.queries() == ["first"]  # the paused turn sent nothing
    worker = stack.spawn_worker("worker-2.log")
    try:
        time.sleep(1)
        assert len(stack.model.research_requests()) == 2  # still waiting: no call repeated
        bad = stack.cli("budget", "s-pause", "--add-usd", "1")
        assert bad.returncode == 2 and "the session has no usd budget to raise" in bad.stderr
        topped = stack.cli("budget", "s-pause", "--add-searches", "1", "--json")
        assert topped.returncode == 0, topped.stderr
        assert json.loads(topped.stdout)["budget"] == {"searches": 2}
        report = ask_json(stack, "--id", "s-pause", "--no-worker")
    finally:
        worker.terminate()
        worker.wait(20)
    assert report["termination"] == "answer"
    assert stack.serper.queries() == ["first", "second"]
    assert len(stack.model.research_requests()) == 3
    assert report["spent"]["searches"] == 2 and report["budget"] == {
        "tokens": None, "usd": None, "searches": 2, "pages": None
    }  # fmt: skip
    late = stack.cli("budget", "s-pause", "--add-searches", "1")
    assert late.returncode == 2 and "is not running (it is completed)" in late.stderr


async def pending_activities(stack: Stack, session_id: str) -> int:
    client = await Client.connect(stack.env["TEMPORAL_ADDRESS"])
    description = await client.get_workflow_handle(session_id).describe()
    return len(description.raw_description.pending_activities)


def wait_for_status(stack: Stack, session_id: str, node: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        shown = stack.cli("show", session_id, "--json")
        view = json.loads(shown.stdout) if shown.returncode == 0 else {}
        progress = view.get("progress") or {}
        if progress.get("node") == node:
            return view
        assert time.monotonic() < deadline, f"{session_id} never reached {node}: {view}"
        time.sleep(0.3)


def test_bad_budgets_are_one_line(stack: Stack) -> None:
    negative = stack.cli("ask", QUESTION, "--budget-searches", "-1")
    assert negative.returncode == 2 and "Traceback" not in negative.stderr
    prices = stack.cli("ask", QUESTION, DEEPRESEARCH_PRICES='{"search": -1}')
    assert prices.returncode == 2
    assert "DEEPRESEARCH_PRICES" in prices.stderr and "greater than or equal to 0" in prices.stderr
    assert "Traceback" not in prices.stderr
    not_json = stack.cli("ask", QUESTION, DEEPRESEARCH_PRICES="search=1")
    assert not_json.returncode == 2 and "DEEPRESEARCH_PRICES: not JSON" in not_json.stderr
    nothing = stack.cli("budget", "s-none")
    assert nothing.returncode == 2 and "name what to add" in nothing.stderr
    heavy = stack.cli("ask", QUESTION, "--mode", "heavy", "--on-budget", "pause")
    assert heavy.returncode == 2 and "on_budget pause is for single sessions" in heavy.stderr
