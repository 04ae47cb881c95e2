"""`deepresearch mcp --transport streamable-http --no-worker`, as the compose service runs it:
the same tools over HTTP, progress included, with the research worker in a process of its own."""

from __future__ import annotations

import json

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import Stack
from tests.mcp.mcp_client import (
    Progress,
    client_session,
    http_server,
    http_session,
    poll,
    structured,
    text,
)
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


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


async def test_mcp_over_http_takes_the_api_keys(stack: Stack) -> None:
    """With DEEPRESEARCH_API_KEYS, nothing of MCP over HTTP answers without one of them (the
    official client with the bearer header works), and failed keys are throttled."""
    key = "mcp-key-0123456789abcdef"
    async with http_server(stack, "--no-worker", DEEPRESEARCH_API_KEYS=key) as url:
        async with httpx.AsyncClient(timeout=30) as http:
            missing = await http.post(url, json=INITIALIZE, headers=ACCEPT)
            assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
            assert missing.json() == {
                "error": "an API key is required (Authorization: Bearer <API key>)"
            }
            wrong = await http.post(
                url, json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {'y' * 24}"}
            )
            assert wrong.status_code == 403
            for _ in range(9):
                await http.post(
                    url, json=INITIALIZE, headers={**ACCEPT, "Authorization": "Bearer " + "z" * 24}
                )
            throttled = await http.post(
                url, json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {key}"}
            )
            assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    async with (
        http_server(stack, "--no-worker", DEEPRESEARCH_API_KEYS=key) as url,
        client_session(url, {"Authorization": f"Bearer {key}"}) as session,
    ):
        tools = {tool.name for tool in (await session.list_tools()).tools}
        assert tools == {
            "deep_research", "start_research", "get_research", "approve_plan", "reject_plan",
            "follow_up", "fork_research",
        }  # fmt: skip


async def test_mcp_over_http_guards_host_and_origin_on_any_loopback(stack: Stack) -> None:
    """Bound to 127.0.0.2 without keys (the SDK's own check knows only the literal loopback
    names): a hostile Host or Origin gets nothing, the bound address is served."""
    async with http_server(stack, "--no-worker", host="127.0.0.2") as url:
        async with httpx.AsyncClient(timeout=30) as http:
            rebound = await http.post(
                url, json=INITIALIZE, headers={**ACCEPT, "Host": "rebind.attacker.example"}
            )
            assert rebound.status_code == 421, rebound.text
            assert "mcp-session-id" not in rebound.headers
            cross = await http.post(
                url, json=INITIALIZE, headers={**ACCEPT, "Origin": "http://attacker.example"}
            )
            assert cross.status_code == 403 and "mcp-session-id" not in cross.headers
            form = await http.post(
                url,
                content=json.dumps(INITIALIZE),
                headers={**ACCEPT, "Content-Type": "text/plain"},
            )
            assert form.status_code == 415
            big = await http.post(
                url, json={**INITIALIZE, "pad": "x" * (2 * 1024 * 1024)}, headers=ACCEPT
            )
            assert big.status_code == 413
        async with client_session(url) as session:
            assert len((await session.list_tools()).tools) == 7


def test_mcp_over_http_refuses_a_public_bind_without_keys(stack: Stack) -> None:
    for host in ("0.0.0.0", "192.0.2.10"):
        result = stack.cli(
            "mcp",
            "--transport",
            "streamable-http",
            "--host",
            host,
            "--port",
            "1",
            "--no-worker",
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: refusing to serve {host} without an API key: set DEEPRESEARCH_API_KEYS "
            "(comma-separated) or bind 127.0.0.1"
        )
