"""Plan first (`ask --plan`) against a real dev server and worker processes: one planning call,
then a durable wait that sends nothing and survives a killed worker; an approval with an edited
plan and answers reaches the model byte for byte; no reply within the wait goes on with the
drafted plan; a rejection ends the session before it researches; bad decisions in one line."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

from graphs import prompts
from tests.conftest import Stack
from tests.fakes.model import message_text
from tests.workflow.test_budget import pending_activities, wait_for_status
from tests.workflow.test_session import ANSWER, QUESTION, answer, ask_json, call

DRAFT = (
    "<think>the year is ambiguous</think><plan>\n1. Find the laureates.\n2. Find the citation.\n"
    "</plan>\n<questions>\n- The award announced in 2024 or the one for 2024?\n</questions>"
)
EDITED = "1. Read the ACM announcement of March 2025.\n2. Name both laureates and the citation."
REPLY = "The one for 2024, announced in 2025."


def first_user_message(stack: Stack) -> str:
    return stack.model.research_requests()[0].body["messages"][1]["content"]


def test_the_wait_sends_nothing_survives_a_kill_and_the_edited_plan_reaches_the_model(
    stack: Stack, tmp_path: Path
) -> None:
    stack.script(QUESTION, [call("search", {"query": ["turing award 2024"]}), answer()])
    stack.model.plans[QUESTION] = DRAFT
    started = stack.cli("ask", QUESTION, "--id", "s-plan", "--detach", "--no-worker", "--plan")
    assert started.returncode == 0, started.stderr
    worker = stack.spawn_worker()
    try:
        view = wait_for_status(stack, "s-plan", "awaiting_approval")
        plan = view["progress"]["plan"]
        assert plan["status"] == "awaiting_approval"
        assert plan["plan"] == "1. Find the laureates.\n2. Find the citation."
        assert plan["questions"] == ["The award announced in 2024 or the one for 2024?"]
        assert view["progress"]["spent"]["tokens"] > 0  # the planning call's
        assert asyncio.run(pending_activities(stack, "s-plan")) == set()  # it holds nothing
        shown = stack.cli("show", "s-plan")
        assert shown.returncode == 0, shown.stderr
        assert "plan: awaiting_approval" in shown.stdout
        assert "question 1: The award announced in 2024 or the one for 2024?" in shown.stdout
        assert "deepresearch approve s-plan" in shown.stdout
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(20)
    worker = stack.spawn_worker("worker-2.log")
    try:
        time.sleep(1.5)
        assert len(stack.model.planning_requests()) == 1  # drafted once, before the kill
        assert stack.model.research_requests() == [] and stack.serper.queries() == []
        too_many = stack.cli("approve", "s-plan", "--answer", "a", "--answer", "b")
        assert too_many.returncode == 2
        assert "2 answers for 1 clarifying question(s)" in too_many.stderr
        edited = tmp_path / "plan.md"
        edited.write_text(EDITED + "\n", encoding="utf-8")
        approved = stack.cli(
            "approve", "s-plan", "--plan-file", str(edited), "--answer", REPLY, "--json"
        )
        assert approved.returncode == 0, approved.stderr
        decided = json.loads(approved.stdout)["plan"]
        assert (decided["status"], decided["edited"], decided["answers"]) == (
            "approved", True, [REPLY]
        )  # fmt: skip
        report = ask_json(stack, "--id", "s-plan", "--no-worker")
    finally:
        worker.terminate()
        worker.wait(20)
    assert report["answer"] == ANSWER and report["plan"]["plan"] == EDITED
    assert len(stack.model.planning_requests()) == 1
    assert first_user_message(stack) == (
        f"{QUESTION}\n\n{prompts.PLAN_EDITED}\n{EDITED}\n\n{prompts.PLAN_ANSWERS}\n"
        f"Q: The award announced in 2024 or the one for 2024?\nA: {REPLY}"
    )
    again = stack.cli("approve", "s-plan")
    assert again.returncode == 2 and "is not running (it is completed)" in again.stderr


def test_no_reply_within_the_wait_goes_on_with_the_drafted_plan(stack: Stack) -> None:
    stack.script(QUESTION, [answer()])
    report = ask_json(stack, "--id", "s-plan-wait", "--plan", DEEPRESEARCH_PLAN_WAIT="1s")
    plan = report["plan"]
    assert plan["status"] == "proceeded" and "DEEPRESEARCH_PLAN_WAIT" in plan["note"]
    assert first_user_message(stack) == (
        f"{QUESTION}\n\n{prompts.PLAN_UNREVIEWED}\n1. Who won it?\n2. What for?"
    )
    calls = stack.model.planning_requests() + stack.model.research_requests()
    assert len(calls) == 2  # the planning call's tokens count with the research's
    assert report["prompt_tokens"] == sum(
        sum(len(message_text(m)) for m in call.body["messages"]) // 4 for call in calls
    )


def test_a_rejected_plan_ends_the_session_before_it_researches(stack: Stack) -> None:
    stack.script(QUESTION, [answer()])
    started = stack.cli("ask", QUESTION, "--id", "s-plan-no", "--detach", "--no-worker", "--plan")
    assert started.returncode == 0, started.stderr
    worker = stack.spawn_worker()
    try:
        early = stack.cli("reject", "s-none")
        assert early.returncode == 2 and "no session with id 's-none'" in early.stderr
        wait_for_status(stack, "s-plan-no", "awaiting_approval")
        rejected = stack.cli("reject", "s-plan-no", "--reason", "it misread the question")
        assert rejected.returncode == 0, rejected.stderr
        assert "plan: rejected: it misread the question" in rejected.stderr
        report = ask_json(stack, "--id", "s-plan-no", "--no-worker")
    finally:
        worker.terminate()
        worker.wait(20)
    assert report["termination"] == prompts.TERMINATION_REJECTED and report["answer"] == ""
    assert stack.model.research_requests() == [] and stack.serper.queries() == []


def test_a_session_without_a_plan_cannot_be_approved(stack: Stack) -> None:
    """A session waiting for budget (not for a plan): approve and reject are a conflict."""
    stack.script(QUESTION, [call("search", {"query": ["one"]}), call("search", {"query": ["two"]})])
    started = stack.cli(
        "ask", QUESTION, "--id", "s-plain", "--detach", "--no-worker",
        "--budget-searches", "1", "--on-budget", "pause",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    worker = stack.spawn_worker()
    try:
        wait_for_status(stack, "s-plain", "awaiting_budget")
        for verb in ("approve", "reject"):
            refused = stack.cli(verb, "s-plain")
            assert refused.returncode == 2, refused.stderr
            assert "error: the session has no plan to decide on" in refused.stderr
            assert "Traceback" not in refused.stderr
        assert stack.cli("cancel", "s-plain").returncode == 0
        report = ask_json(stack, "--id", "s-plain", "--no-worker")
    finally:
        worker.terminate()
        worker.wait(20)
    assert report["plan"] is None
    assert "Research plan" not in first_user_message(stack)
    assert stack.model.planning_requests() == []
