"""Running the MCP server over stdio (a desktop client spawns it) or streamable HTTP (a
service); in stdio mode stdout carries the protocol only, so logs go to stderr."""

from __future__ import annotations

import logging
import sys
from functools import partial
from typing import Literal

import anyio

from workers.config import Settings
from workers.mcp.backend import Backend
from workers.mcp.server import build_server

Transport = Literal["stdio", "streamable-http"]
TRANSPORTS: tuple[Transport, ...] = ("stdio", "streamable-http")
PATH = "/mcp"


def log_to_stderr() -> None:
    """Our logs, the worker's and the SDK's on stderr (a desktop client keeps them in its
    server log); stdout is the protocol's."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        force=True,
    )


def serve(
    settings: Settings,
    transport: Transport = "stdio",
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    worker: bool = True,
) -> None:
    """Serve until the client closes stdin (stdio) or SIGINT/SIGTERM (HTTP)."""
    log_to_stderr()
    server = build_server(Backend(settings, worker))
    if transport == "stdio":
        anyio.run(server.run_stdio_async)
    else:
        run = server.run_streamable_http_async
        anyio.run(partial(run, host=host, port=port, streamable_http_path=PATH))
