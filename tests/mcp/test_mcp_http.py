"""`deepresearch mcp --transport streamable-http --no-worker`, as the compose service runs it:
the same tools over HTTP, progress included, with the research worker in a process of its own."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import Stack
from tests.mcp.mcp_client import Progress, http_session, poll, structured, text
from tests.workflow.test_session import ANSWER, QUESTION, answer, four_call_script

WAITING = "What does a session do before any worker polls its queue?"


async def test_over_streamable_http_with_a_separate_worker(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    stack.script(WAITING, [answer("It waits.")])
    worker = None
    try:
        async with http_session(stack, "--no-worker") as session:
            # No worker yet: the session is started and waits; its report is not ready.
            await session.call_tool("start_research", {"question": WAITING, "id": "h-wait"})
            waiting = await session.call_tool("get_research", {"id": "h-wait"})
            assert structured(waiting)["status"] == "running"
            assert structured(waiting)["progress"] is None
            assert "no worker has reported its progress yet" in text(waiting)
            with pytest.raises(MCPError, match="session h-wait is still running"):
                await session.read_resource("deepresearch://sessions/h-wait/report")

            worker = stack.spawn_worker()
            status = await poll(session, "h-wait")
            assert status["status"] == "completed"
            assert status["result"]["answer"] == "It waits."  # type: ignore[index]

            progress = Progress()
            result = await session.call_tool(
                "deep_research", {"question": QUESTION}, progress_callback=progress
            )
            found = structured(result)
            assert found["answer"] == ANSWER, text(result)
            assert found["sources"] == [f"{stack.jina.url}/page/turing-{i}" for i in (1, 2)]
            assert progress.messages[0] == f"{found['session_id']}: started"
            (contents,) = (await session.read_resource(found["report_uri"])).contents
            assert ANSWER in contents.text  # type: ignore[union-attr]
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
