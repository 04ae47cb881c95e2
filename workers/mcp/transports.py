"""Running the MCP server over stdio (a desktop client spawns it) or streamable HTTP (a
service); in stdio mode stdout carries the protocol only, so logs go to stderr. Over HTTP it
stands behind the API's boundary: the same keys (bearer), the same bind rule, the same Host
allow-list, cross-site and body-size checks."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import anyio
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings

from activities.errors import ConfigurationError
from workers.api.server import listen
from workers.boundary import Guard, KeyRing, Policy, RequireKey, bind_error
from workers.config import Settings
from workers.mcp.backend import Backend
from workers.mcp.server import build_server

Transport = Literal["stdio", "streamable-http"]
TRANSPORTS: tuple[Transport, ...] = ("stdio", "streamable-http")
PATH = "/mcp"
log = logging.getLogger(__name__)


def log_to_stderr() -> None:
    """Our logs, the worker's and the SDK's on stderr (a desktop client keeps them in its
    server log); stdout is the protocol's."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        force=True,
    )


def serve_stdio(settings: Settings, *, worker: bool = True) -> None:
    """Serve until the client closes stdin."""
    log_to_stderr()
    anyio.run(build_server(Backend(settings, worker)).run_stdio_async)


async def serve_http(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 8765, worker: bool = True
) -> None:
    """Serve streamable HTTP until SIGINT/SIGTERM; ConfigurationError (one line) for an
    address it may not or cannot bind."""
    refused = bind_error(settings, host)
    if refused is not None:
        raise ConfigurationError(refused)
    ring = KeyRing(settings)
    try:
        sock = listen(host, port)
    except OSError as error:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    log_to_stderr()
    server = build_server(Backend(settings, worker))
    app = server.streamable_http_app(
        streamable_http_path=PATH,
        max_request_body_size=settings.api_max_body_bytes,
        # the Guard below checks Host and Origin for every address, not only the literal
        # loopback names the SDK's own check knows
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=host,
    )
    guarded = Guard(RequireKey(app, ring), Policy.of(settings, host))
    config = uvicorn.Config(guarded, log_level="info", timeout_graceful_shutdown=5,
                            proxy_headers=True)  # fmt: skip
    await uvicorn.Server(config).serve(sockets=[sock])
