"""DNS rebinding on the read path: a name that resolves (through the resolver the read activity
uses, the event loop's getaddrinfo, which httpx's own connect also goes through) first to the
address netguard checks and then to another one. The page request must reach the checked
address with the original Host header, or fail — never the second answer."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.context import ToolContext
from activities.read import read_page

NAME = "rebind.test"


class Recorder:
    """An HTTP server on one loopback address that records the Host of every request."""

    def __init__(self, address: str, port: int = 0) -> None:
        self.hosts: list[str] = []
        hosts = self.hosts

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                hosts.append(self.headers.get("Host", ""))
                body = f"<html><body><p>served by {address}</p></body></html>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[Recorder, Recorder]]:
    """The checked address (127.0.0.2) and the one a rebinding answer points at (127.0.0.3),
    on the same port, as one name's two answers would be."""
    checked = Recorder("127.0.0.2")
    internal = Recorder("127.0.0.3", checked.port)
    yield checked, internal
    checked.close()
    internal.close()


def rebinding(monkeypatch: pytest.MonkeyPatch, first: str, then: str) -> list[str]:
    """NAME resolves to `first` once, to `then` after that; other names as usual. Returns the
    answers given, in order."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    given: list[str] = []

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host  # anyio passes IDNA bytes
        if name != NAME:
            return await real(host, port, *args, **kwargs)
        address = first if not given else then
        given.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return given


def direct(tools: ToolContext, http: httpx.AsyncClient, **changes: Any) -> ToolContext:
    """The tools reading pages themselves (no reader service), as without a Jina key."""
    return replace(tools, http=http, jina_key=None, jina_keyless=False, **changes)


async def test_the_page_request_goes_to_the_checked_address(
    tools: ToolContext, servers: tuple[Recorder, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    checked, internal = servers
    given = rebinding(monkeypatch, "127.0.0.2", "127.0.0.3")
    async with httpx.AsyncClient(timeout=10) as http:
        text = await read_page(direct(tools, http), f"http://{NAME}:{checked.port}/page")
    assert "served by 127.0.0.2" in text
    assert checked.hosts == [f"{NAME}:{checked.port}"]  # the server still sees its own name
    assert internal.hosts == []  # the second answer was never used
    assert given == ["127.0.0.2"]  # and never even asked for: the connection is pinned


async def test_a_rebinding_to_loopback_reaches_nothing(
    tools: ToolContext, servers: tuple[Recorder, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loopback not allowed: the name first shows a public address (which passes the check),
    then loopback. The request goes to the public address (unreachable here) and fails; the
    loopback service never sees it."""
    _, internal = servers
    rebinding(monkeypatch, "8.8.8.8", "127.0.0.3")
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, connect=2)) as http:
        ctx = direct(tools, http, allow_loopback=False)
        with pytest.raises(ApplicationError, match="page: ConnectError"):  # retryable, as any
            await read_page(ctx, f"http://{NAME}:{internal.port}/page")  # unreachable host
    assert internal.hosts == []
