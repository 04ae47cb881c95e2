"""`deepresearch mcp` over stdio, driven by the SDK's own client as a desktop client drives it:
the server process hosts a research worker, a real dev server and loopback fakes do the rest."""

from __future__ import annotations

import asyncio

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import ResourceLink, TextResourceContents

from graphs import prompts
from tests.conftest import Stack
from tests.mcp.mcp_client import Progress, poll, stdio_session, structured, text
from tests.workflow.test_follow_up import FOLLOW, FOLLOW_ANSWER, script_follow_ups
from tests.workflow.test_plan import DRAFT, EDITED, first_user_message
from tests.workflow.test_report import WRITER
from tests.workflow.test_session import ANSWER, QUESTION, answer, call, four_call_script

SECOND = "Which prize did Hinton share in 2024?"
SECOND_ANSWER = "The Nobel Prize in Physics, with John Hopfield."


def one_line_error(result: object) -> str:
    assert getattr(result, "is_error", False), result
    message = text(result)  # type: ignore[arg-type]
    assert "\n" not in message and "Traceback" not in message, message
    return message


async def test_tools_resources_and_errors_over_stdio(stack: Stack) -> None:
    pages = [f"{stack.jina.url}/page/turing-{i}" for i in (1, 2)]
    stack.script(QUESTION, four_call_script(stack))
    stack.script(SECOND, [call("search", {"query": ["hinton 2024 prize"]}), answer(SECOND_ANSWER)])
    stack.model.scripts[WRITER] = ["# Hinton's 2024 prize\n\nThe Nobel Prize in Physics [1].\n"]
    async with stdio_session(stack) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == {
            "deep_research", "start_research", "get_research", "approve_plan", "reject_plan",
            "follow_up", "fork_research",
        }  # fmt: skip
        assert tools["deep_research"].input_schema["required"] == ["question"]
        # starting research spends credit and records a session: a client must not take it
        # for a read-only call it may make unasked
        for name in ("deep_research", "start_research", "fork_research"):
            hints = tools[name].annotations
            assert hints is not None and hints.read_only_hint is False, name
            assert hints.destructive_hint is False and hints.open_world_hint is True, name
        assert tools["get_research"].annotations.read_only_hint is True  # type: ignore[union-attr]
        templates = (await session.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == [
            "deepresearch://sessions/{session_id}/report"
        ]

        # deep_research: runs the session to the end, with progress on the way.
        progress = Progress()
        result = await session.call_tool(
            "deep_research", {"question": QUESTION}, progress_callback=progress
        )
        found = structured(result)
        session_id = found["session_id"]
        assert found["answer"] == ANSWER and found["sources"] == pages
        assert found["termination"] == "answer" and found["llm_calls"] == 3
        assert ANSWER in text(result) and f"[1] {pages[0]}" in text(result)
        (link,) = [block for block in result.content if isinstance(block, ResourceLink)]
        assert (
            str(link.uri) == found["report_uri"] == f"deepresearch://sessions/{session_id}/report"
        )
        assert progress.messages[0] == f"{session_id}: started"
        assert any("model calls" in message for message in progress.messages[1:]), progress
        assert progress.values == sorted(set(progress.values))  # strictly increasing

        # The report resource: the answer with its sources (no long report was asked).
        (contents,) = (await session.read_resource(found["report_uri"])).contents
        assert isinstance(contents, TextResourceContents)
        assert contents.mime_type == "text/markdown"
        assert ANSWER in contents.text and f"[2] {pages[1]}" in contents.text

        # get_research on a finished session gives its result.
        status = structured(await session.call_tool("get_research", {"id": session_id}))
        assert status["status"] == "completed" and status["result"]["answer"] == ANSWER

        # fork_research: steps 1-2 from its record (no search or page read again), live from 3
        searches = len(stack.serper.queries())
        forked = structured(
            await session.call_tool("fork_research", {"id": session_id, "at_step": 2})
        )
        assert forked["status"] == "started"
        status = await poll(session, forked["session_id"])
        assert status["result"]["answer"] == ANSWER and status["result"]["llm_calls"] == 3
        assert status["result"]["forked_from"] == session_id
        assert len(stack.serper.queries()) == searches
        far = await session.call_tool("fork_research", {"id": session_id, "at_step": 9})
        assert "fork it at a step from 1 to 2" in one_line_error(far)

        # start_research returns at once; get_research follows it; a long report was asked.
        started = structured(
            await session.call_tool(
                "start_research", {"question": SECOND, "report": True, "id": "m-second"}
            )
        )
        assert started == {"session_id": "m-second", "status": "started"}
        again = structured(
            await session.call_tool("start_research", {"question": SECOND, "id": "m-second"})
        )
        assert again["session_id"] == "m-second" and again["status"] in ("running", "completed")
        status = await poll(session, "m-second")
        assert status["status"] == "completed" and status["error"] is None
        assert status["result"]["answer"] == SECOND_ANSWER and status["result"]["long_report"]
        assert status["result"]["spent"]["tokens"] > 0  # what it spent comes with the result
        (contents,) = (
            await session.read_resource("deepresearch://sessions/m-second/report")
        ).contents
        assert contents.text.startswith("# Hinton's 2024 prize")

        # Errors: one line each, no traceback.
        missing = one_line_error(await session.call_tool("get_research", {"id": "m-nope"}))
        assert missing.endswith("no session with id 'm-nope'")
        empty = one_line_error(await session.call_tool("deep_research", {"question": "  "}))
        assert empty.endswith("the question is empty")
        bad = one_line_error(
            await session.call_tool("start_research", {"question": "Q?", "mode": "fast"})
        )
        assert (
            "invalid arguments for start_research: mode: Input should be 'react' or 'heavy'" in bad
        )
        bad_budget = {"question": "Q?", "budget": {"searches": -1}}
        bad = one_line_error(await session.call_tool("start_research", bad_budget))
        assert "invalid arguments for start_research: budget.searches:" in bad, bad
        bad_id = {"question": "Q?", "id": "a/b"}
        bad = one_line_error(await session.call_tool("start_research", bad_id))
        assert "invalid arguments for start_research: id: String should match pattern" in bad
        with pytest.raises(MCPError, match="no session with id 'm-nope'"):
            await session.read_resource("deepresearch://sessions/m-nope/report")

    assert len(stack.model.research_requests()) == 3 + 1 + 2 + 1  # each ran once (the fork: one)
    assert "Traceback" not in (stack.data_dir / "mcp.log").read_text()


async def test_a_plan_is_shown_and_approved_over_stdio(stack: Stack) -> None:
    """start_research(plan=true): get_research shows the plan and its question while it
    waits; approve_plan with a bad answer count is one line, then an edited plan goes on."""
    stack.script(QUESTION, [answer()])
    stack.model.plans[QUESTION] = DRAFT
    async with stdio_session(stack) as session:
        started = structured(
            await session.call_tool(
                "start_research", {"question": QUESTION, "id": "m-plan", "plan": True}
            )
        )
        assert started == {"session_id": "m-plan", "status": "started"}
        for _ in range(300):
            result = await session.call_tool("get_research", {"id": "m-plan"})
            plan = (structured(result)["progress"] or {}).get("plan") or {}
            if plan.get("status") == "awaiting_approval":
                break
            await asyncio.sleep(0.2)
        assert "Research plan, waiting for approval:\n1. Find the laureates." in text(result)
        assert "approve_plan(id='m-plan'" in text(result)
        too_many = await session.call_tool("approve_plan", {"id": "m-plan", "answers": ["a", "b"]})
        assert "2 answers for 1 clarifying question(s)" in one_line_error(too_many)
        approved = await session.call_tool("approve_plan", {"id": "m-plan", "plan": EDITED})
        assert structured(approved)["status"] == "approved" and structured(approved)["edited"]
        status = await poll(session, "m-plan")
        assert status["result"]["answer"] == ANSWER
        assert status["result"]["plan"]["plan"] == EDITED
        # follow_up: a new session from this one's conversation
        stack.script(FOLLOW, [answer(FOLLOW_ANSWER)])
        script_follow_ups(stack)
        later = structured(
            await session.call_tool("follow_up", {"id": "m-plan", "question": FOLLOW})
        )
        assert later["status"] == "started"
        status = await poll(session, later["session_id"])
        assert status["result"]["answer"] == FOLLOW_ANSWER
        gone = await session.call_tool("follow_up", {"id": "m-none", "question": FOLLOW})
        assert "no session with id 'm-none'" in one_line_error(gone)
    assert f"{prompts.PLAN_EDITED}\n{EDITED}" in first_user_message(stack)


async def test_temporal_down_is_a_tool_error(stack: Stack) -> None:
    """The server starts and lists its tools while Temporal is down; calls fail in one line."""
    async with stdio_session(stack, "--no-worker", TEMPORAL_ADDRESS="127.0.0.1:9") as session:
        assert len((await session.list_tools()).tools) == 7
        result = await session.call_tool("get_research", {"id": "m-any"})
        assert "cannot reach Temporal at 127.0.0.1:9" in one_line_error(result)
        result = await session.call_tool("deep_research", {"question": QUESTION})
        assert "cannot reach Temporal at 127.0.0.1:9" in one_line_error(result)


def test_bad_start_is_one_line(stack: Stack) -> None:
    """Before serving: an unknown transport, or a worker to host without a model endpoint."""
    result = stack.cli("mcp", "--transport", "sse")
    assert (result.returncode, result.stderr) == (
        2,
        "error: --transport is one of stdio, streamable-http\n",
    )
    result = stack.cli("mcp", DEEPRESEARCH_MODEL="")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: no model endpoint configured")
    assert len(result.stderr.splitlines()) == 1
