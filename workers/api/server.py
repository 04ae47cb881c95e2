"""Serve the API with uvicorn on a socket bound first, so a refused address or a port in use
is one line for the user, not a server log."""

from __future__ import annotations

import logging
import socket

import uvicorn

from activities.errors import ConfigurationError
from workers.api.app import create_app
from workers.boundary import bind_error
from workers.config import Settings

log = logging.getLogger(__name__)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (IPv6 when the host is one); OSError when taken."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it each response waits out the client's delayed ACK (about 40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


async def serve(settings: Settings, host: str, port: int, worker: bool = False) -> None:
    """Run until SIGINT/SIGTERM (uvicorn's handlers: in-flight requests finish, streams end)."""
    refused = bind_error(settings, host)
    if refused is not None:
        raise ConfigurationError(refused)
    try:
        sock = listen(host, port)
    except OSError as error:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    log.info("deepresearch API on http://%s:%d (docs at /docs)", shown, port)
    config = uvicorn.Config(
        create_app(settings, worker=worker, host=host),
        log_level="info",
        timeout_graceful_shutdown=5,
        proxy_headers=True,
    )
    await uvicorn.Server(config).serve(sockets=[sock])
