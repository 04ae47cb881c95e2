"""The session layer (`workers.client`) called directly, as the HTTP API and the MCP server
will call it: a real dev server, an in-process worker, loopback fakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, answer, call, four_call_script
from workers.client import (
    AskOptions,
    Evaluations,
    InvalidRequest,
    SessionConflict,
    SessionFailed,
    SessionNotFound,
    Sessions,
    validate,
)
from workers.config import Settings
from workers.eval.data import load_dataset
from workers.hosting.research_worker import research_worker
from workers.workflows.models import Progress, ResearchReport


def settings_of(stack: Stack, **extra: str) -> Settings:
    return Settings(**{**stack.env, **extra})


async def test_start_watch_list_timeline_export(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    sessions = await Sessions.connect(settings_of(stack))
    started = await sessions.start(AskOptions(question=QUESTION), "c-basic")
    assert (started.session_id, started.status, started.heavy) == ("c-basic", "started", False)
    async with research_worker(sessions.settings, sessions.client):
        updates = [update async for update in sessions.watch("c-basic", interval=0.1)]
    report = updates[-1]
    assert isinstance(report, ResearchReport) and report.answer == ANSWER
    assert all(isinstance(update, Progress) for update in updates[:-1])
    assert report.llm_calls == 3 and report.tool_calls == 4

    again = await sessions.start(AskOptions(question=QUESTION), "c-basic")
    assert again.status == "completed"  # the same id attaches, never a second session
    assert await sessions.status("c-basic") == "completed"

    rows = await sessions.list(status="completed", text="Turing")
    assert "c-basic" in [row.session_id for row in rows]
    timeline = await sessions.timeline("c-basic")
    assert timeline["status"] == "completed"
    assert [step["node"] for step in timeline["steps"]].count("think") == 3
    record = await sessions.export("c-basic")
    assert record["prediction"] == ANSWER and record["termination"] == "answer"
    assert record["messages"][0]["role"] == "system"


async def test_errors_are_typed(stack: Stack) -> None:
    settings = settings_of(stack)
    with pytest.raises(InvalidRequest, match="the question is empty"):
        validate(settings, AskOptions(question="   "))
    with pytest.raises(InvalidRequest, match="Heavy mode"):
        validate(settings, AskOptions(question="Q?", strategies=["react", "iterative"]))
    with pytest.raises(InvalidRequest, match="no such file"):
        sessions = await Sessions.connect(settings)
        await sessions.start(AskOptions(question="Q?", files=[Path("/nonexistent/x.pdf")]))
    with pytest.raises(SessionNotFound, match="no session with id 'c-nope'"):
        await sessions.timeline("c-nope")
    with pytest.raises(SessionNotFound):
        await sessions.cancel("c-nope")
    with pytest.raises(InvalidRequest, match="the note is empty"):
        await sessions.steer("c-nope", " ")


async def test_failed_session_then_resume_conflicts(stack: Stack) -> None:
    question = "A question with no script"  # the fake model answers 400: the session fails
    sessions = await Sessions.connect(settings_of(stack, DEEPRESEARCH_MODEL_ATTEMPTS="1"))
    await sessions.start(AskOptions(question=question), "c-failed")
    async with research_worker(sessions.settings, sessions.client):
        with pytest.raises(SessionFailed, match="session c-failed failed: "):
            await sessions.result("c-failed")
    assert await sessions.status("c-failed") == "failed"
    with pytest.raises(SessionConflict, match="not running"):
        await sessions.cancel("c-failed")
    with pytest.raises(SessionConflict, match="before its first model call|has not completed"):
        await sessions.export("c-failed")


async def test_eval_honours_the_limit_settings(stack: Stack, tmp_path: Path) -> None:
    """eval sessions run on DEEPRESEARCH_MAX_LLM_CALLS like `ask` (they ran on the defaults)."""
    question = "What does eval's limit do?"
    stack.script(question, [call("search", {"query": ["q"]}), answer("never reached")])
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"question": question, "answer": "x"}) + "\n")
    settings = settings_of(stack, DEEPRESEARCH_MAX_LLM_CALLS="1", DEEPRESEARCH_TOOL_ATTEMPTS="2")
    evaluations = Evaluations(await Sessions.connect(settings))
    items = load_dataset(data)
    run_id = await evaluations.start(
        data, items, tmp_path / "out", rollouts=1, concurrency=1, benchmark="gaia"
    )
    async with research_worker(settings, evaluations.sessions.client):
        outcomes = [update async for update in evaluations.watch(run_id, interval=0.2)][-1]
    (outcome,) = outcomes  # type: ignore[misc]
    assert outcome.report is not None
    assert outcome.report.llm_calls == 1
    assert outcome.report.termination == "exceed available llm calls"
    history = await evaluations.sessions.client.get_workflow_handle(run_id).fetch_history()
    judge = next(
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    )
    assert judge.activity_type.name == "eval.judge"
    assert judge.retry_policy.maximum_attempts == 2  # DEEPRESEARCH_TOOL_ATTEMPTS
    assert judge.heartbeat_timeout.seconds == 2  # DEEPRESEARCH_HEARTBEAT_SECONDS


async def test_research_max_tokens_setting(stack: Stack) -> None:
    """DEEPRESEARCH_MAX_TOKENS is the research call's max_tokens (default: the reference's
    10,000), for servers whose context window is small."""
    question = "How many tokens may a reply have?"
    stack.script(question, [answer("short")])
    sessions = await Sessions.connect(settings_of(stack, DEEPRESEARCH_MAX_TOKENS="77"))
    await sessions.start(AskOptions(question=question), "c-max-tokens")
    async with research_worker(sessions.settings, sessions.client):
        report = await sessions.result("c-max-tokens")
    assert report.answer == "short"
    (request,) = [r for r in stack.model.research_requests() if r.meta["question"] == question]
    assert request.body["max_tokens"] == 77
    assert Settings(**stack.env).max_tokens == 10_000
    with pytest.raises(ValueError, match="DEEPRESEARCH_MAX_TOKENS"):
        Settings(**{**stack.env, "DEEPRESEARCH_MAX_TOKENS": "0"})
