"""The SDK's own MCP client against `deepresearch mcp`: a stdio subprocess or a streamable HTTP
server, and helpers that read tool results the way a client does."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CallToolResult, TextContent

from tests.conftest import REPO, Stack

MCP = [sys.executable, "-m", "workers.cli", "mcp"]


@asynccontextmanager
async def stdio_session(
    stack: Stack, *args: str, log_name: str = "mcp.log", **extra_env: str
) -> AsyncIterator[ClientSession]:
    """`deepresearch mcp ARGS` spawned by the client, its stderr kept in the data dir."""
    params = StdioServerParameters(
        command=MCP[0], args=[*MCP[1:], *args], env={**stack.env, **extra_env}, cwd=REPO
    )
    with open(stack.data_dir / log_name, "a", encoding="utf-8") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_for_port(
    port: int, process: subprocess.Popen[bytes], timeout: float = 60, host: str = "127.0.0.1"
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        assert process.poll() is None, "the MCP server exited"
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        return
    raise TimeoutError(f"nothing listens on {port}")


@asynccontextmanager
async def http_server(
    stack: Stack, *args: str, host: str = "127.0.0.1", **extra_env: str
) -> AsyncIterator[str]:
    """`deepresearch mcp --transport streamable-http` as a server process; its endpoint URL."""
    port = free_port()
    command = [*MCP, "--transport", "streamable-http", "--host", host, "--port", str(port), *args]
    with open(stack.data_dir / "mcp-http.log", "ab") as log:
        process = subprocess.Popen(
            command, env={**stack.env, **extra_env}, cwd=REPO, stdout=log, stderr=log
        )
    try:
        await wait_for_port(port, process, host=host)
        yield f"http://{host}:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=30)


@asynccontextmanager
async def client_session(
    url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    """The SDK's client on `url`, initialized, sending `headers` with every request."""
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(stack: Stack, *args: str) -> AsyncIterator[ClientSession]:
    """`deepresearch mcp --transport streamable-http` as a server process, and a client."""
    async with http_server(stack, *args) as url, client_session(url) as session:
        yield session


def text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    # What a client that reads only text gets is the same data, as JSON or prose.
    return json.loads(json.dumps(result.structured_content))


class Progress:
    """A progress callback that keeps what it was sent."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.messages: list[str] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.values.append(progress)
        self.messages.append(message or "")


async def poll(session: ClientSession, session_id: str, timeout: float = 90) -> dict[str, Any]:
    """get_research until the session is no longer running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        status = structured(await session.call_tool("get_research", {"id": session_id}))
        if status["status"] != "running":
            return status
        await asyncio.sleep(0.3)
    raise TimeoutError(session_id)
