"""Dashscope stand-in: the OpenAI-compatible chat endpoint the parse_file tool sends audio,
video, images and scanned pages to, answering a canned transcription."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from .base import FakeServer, RequestRecord, Response
from .model import chunk_event

CREATED = 1_700_000_000
DEFAULT_TRANSCRIPT = "This is the canned transcription of the uploaded recording."


def _error(status: int, message: str, code: str = "InvalidParameter") -> Response:
    return Response.json({"error": {"message": message, "type": code, "code": code}}, status)


def part_types(payload: Any) -> list[str]:
    """The content part types of the request's user messages, in order (text, input_audio...)."""
    messages = payload.get("messages") if isinstance(payload, dict) else None
    types: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            types.extend(str(p.get("type")) for p in content if isinstance(p, dict))
        elif isinstance(content, str):
            types.append("text")
    return types


class FakeDashscope(FakeServer):
    """`POST /chat/completions` (with or without the `/compatible-mode/v1` prefix): checks the
    bearer key (401 otherwise), streams `transcript` as SSE when asked, else answers JSON, and
    logs each request with meta `kind`, `model` and the content `parts` types."""

    def __init__(
        self, api_key: str | None = "test-dashscope-key", transcript: str = DEFAULT_TRANSCRIPT
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.transcript = transcript
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        """What `ToolContext.dashscope_url` points at, as in production."""
        return f"{self.url}/compatible-mode/v1"

    def chat_requests(self) -> list[RequestRecord]:
        """Chat calls that got past routing and authentication, whatever they answered."""
        return self.records(lambda r: r.meta.get("kind") == "chat")

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        route = path.split("?", 1)[0].rstrip("/")
        if route.startswith("/compatible-mode"):
            route = route[len("/compatible-mode") :]
        if route.startswith("/v1/"):
            route = route[3:]
        if route != "/chat/completions":
            return _error(404, f"Unknown route {method} {path}", "NotFound")
        if method != "POST":
            return _error(405, f"Method {method} not allowed", "MethodNotAllowed")
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            resp = _error(401, "Incorrect API key provided.", "invalid_api_key")
            resp.meta["kind"] = "unauthorized"
            return resp
        try:
            payload = json.loads(body)
        except ValueError:
            return _error(400, "Request body is not valid JSON")
        if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
            return _error(400, "'messages' must be a list")
        model = str(payload.get("model") or "")
        meta = {"kind": "chat", "model": model, "parts": part_types(payload)}
        if "omni" in model and not payload.get("stream"):
            resp = _error(400, "This model only support stream mode, please enable the stream.")
            resp.meta.update(meta)
            return resp
        completion_id = f"chatcmpl-dashscope-{next(self._ids)}"
        if payload.get("stream"):
            return Response(
                200,
                {"Content-Type": "text/event-stream; charset=utf-8"},
                _sse(completion_id, model, self.transcript),
                meta,
            )
        return Response.json(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": CREATED,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.transcript},
                        "finish_reason": "stop",
                    }
                ],
            },
            meta=meta,
        )


def _sse(completion_id: str, model: str, content: str) -> Iterator[bytes]:
    """Two content chunks, a stop chunk, a usage chunk and [DONE], as Dashscope streams."""

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return chunk_event(completion_id, model, choices, **extra)

    half = len(content) // 2
    for i, piece in enumerate((content[:half], content[half:])):
        delta: dict[str, Any] = {"content": piece}
        if i == 0:
            delta["role"] = "assistant"
        yield event([{"index": 0, "delta": delta, "finish_reason": None}])
    yield event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    yield event([], usage=usage)
    yield b"data: [DONE]\n\n"
