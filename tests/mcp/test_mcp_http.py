"""`deepresearch mcp --transport streamable-http`: the same tools over HTTP, progress included,
with the research worker in a separate process (`--no-worker`), as in the compose stack."""

from __future__ import annotations

from tests.conftest import Stack
from tests.mcp.mcp_client import Progress, http_session, structured, text
from tests.workflow.test_session import ANSWER, QUESTION, four_call_script


async def test_deep_research_over_streamable_http(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    worker = stack.spawn_worker()
    try:
        async with http_session(stack, "--no-worker") as session:
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
        worker.terminate()
        worker.wait(timeout=30)
