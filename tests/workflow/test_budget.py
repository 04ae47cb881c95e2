"""Session budgets against a real dev server, real worker processes and the loopback fakes:
the forced answer when a bound runs out, a durable pause that survives a killed worker and
goes on after a top-up without repeating a call, spending in every view, and bad input."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

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
        assert asyncio.run(pending_activities(stack, "s-pause")) == set()  # it holds nothing
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


def test_a_tenant_past_its_day_budget_pauses_its_running_session(
    stack: Stack, tmp_path: Path
) -> None:
    """The tenant's day bound is reached while its session runs: the session's watch (a
    durable timer and a check of the usage memos) holds it before its next call, a new session
    of the tenant is refused, and once the bound is raised the next check lets it go on."""
    budgets = tmp_path / "budgets.toml"
    budgets.write_text("[tenants.gamma]\nday = { searches = 1 }\n")
    env = {
        "DEEPRESEARCH_TENANT_BUDGETS": str(budgets),
        "DEEPRESEARCH_TENANT_WATCH_SECONDS": "0.3",
    }
    stack.script(
        QUESTION,
        [call("search", {"query": ["first"]}), call("search", {"query": ["second"]}), answer()],
    )
    stack.model.latency = 1.0  # the watch sees the first search while the second turn thinks
    worker = stack.spawn_worker("worker-tenant.log", **env)
    try:
        started = stack.cli(
            "ask", QUESTION, "--id", "s-tenant-hold", "--detach", "--no-worker",
            "--tenant", "gamma", **env,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        view = wait_for_status(stack, "s-tenant-hold", "awaiting_budget")
        progress = view["progress"]
        assert progress["awaiting_budget"] == "tenant"
        assert progress["held"].startswith("tenant 'gamma' spent 1 of its 1 searches day budget")
        assert progress["spent"]["searches"] == 1
        assert asyncio.run(pending_activities(stack, "s-tenant-hold")) <= {"tenant.over_budget"}
        shown = stack.cli("show", "s-tenant-hold", **env)
        assert "awaiting budget: tenant 'gamma' spent 1 of its 1 searches" in shown.stdout
        refused = stack.cli("ask", QUESTION, "--tenant", "gamma", "--detach", **env)
        assert refused.returncode == 2 and "tenant 'gamma' spent 1 of its 1" in refused.stderr
        time.sleep(1.5)
        assert stack.serper.queries() == ["first"]  # held: the second search waits
        # held before the second turn, or at its search (where the check lands in between)
        assert len(stack.model.research_requests()) in (1, 2)
        budgets.write_text("[tenants.gamma]\nday = { searches = 5 }\n")
        report = ask_json(stack, "--id", "s-tenant-hold", "--no-worker", "--tenant", "gamma", **env)
    finally:
        stack.model.latency = 0.0
        worker.terminate()
        worker.wait(20)
    assert report["termination"] == "answer"
    assert stack.serper.queries() == ["first", "second"]  # each sent once
    assert len(stack.model.research_requests()) == 3


async def pending_activities(stack: Stack, session_id: str) -> set[str]:
    """The types of the session's activities in flight."""
    client = await Client.connect(stack.env["TEMPORAL_ADDRESS"])
    description = await client.get_workflow_handle(session_id).describe()
    return {a.activity_type.name for a in description.raw_description.pending_activities}


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
