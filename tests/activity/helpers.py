"""Test-local loopback servers and helpers for the activity tests (real HTTP, no mocks)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from tests.fakes import FakeModel, FakeServer, Response

Responder = Callable[[str, str, dict[str, str], bytes], Response]


class StaticServer(FakeServer):
    """A loopback server whose every answer comes from `responder` (redirects, odd bodies...)."""

    def __init__(self, responder: Responder) -> None:
        super().__init__()
        self.responder = responder

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        return self.responder(method, path, headers, body)


class SequencedModel(FakeModel):
    """FakeModel whose extraction replies are raw strings taken in order (the last one repeats),
    so a test can make the extractor answer non-JSON, short text, fenced JSON..."""

    def __init__(self, replies: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replies = list(replies)
        self._replies_lock = threading.Lock()

    def _extraction_reply(self, prompt: str) -> tuple[str, dict[str, Any]]:
        _, meta = super()._extraction_reply(prompt)
        with self._replies_lock:
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return reply, meta


def sse_event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    chunk = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


def delta_event(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return sse_event([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])


def sse_response(events: Iterable[bytes]) -> Response:
    return Response(200, {"Content-Type": "text/event-stream; charset=utf-8"}, list(events))


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
