"""A recording reverse proxy: what a real server was asked and what it answered, byte for byte.

The real-model tier puts it between deepresearch and llama.cpp, so a test can compare a
session's token usage with the server's own report and check that every request was accepted.
Bodies are relayed as they arrive (chunked, as the fakes send streams), so a server that dies
mid-stream reaches the client as a cut-off body (no final chunk), as it would without the
proxy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from .base import FakeServer, Response

_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "content-encoding"}


class RecordingProxy(FakeServer):
    """Forwards every request to `upstream`; each record's meta holds the answer (`body`), and
    `complete` (whether the upstream finished it)."""

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.streaming = threading.Event()  # set at the first chunk of a chat completion
        # A fresh connection per request: one the server dropped is never reused (a 502 here
        # would be the proxy's failure, not the server's).
        self._http = httpx.Client(
            timeout=httpx.Timeout(600, connect=5), limits=httpx.Limits(max_keepalive_connections=0)
        )

    def stop(self) -> None:
        super().stop()
        self._http.close()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        forwarded = {k: v for k, v in headers.items() if k not in _HOP | {"host"}}
        request = self._http.build_request(
            method, self.upstream + path, headers=forwarded, content=body
        )
        try:
            upstream = self._http.send(request, stream=True)
        except httpx.HTTPError as error:
            return Response.text(f"proxy: upstream unreachable: {error}", status=502)
        meta: dict[str, Any] = {"body": b"", "complete": False}
        reply = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
        chat = path.split("?", 1)[0].endswith("/chat/completions")
        return Response(upstream.status_code, reply, self._relay(upstream, meta, chat), meta)

    def _relay(self, upstream: httpx.Response, meta: dict[str, Any], chat: bool) -> Iterator[bytes]:
        """The upstream body part by part; an upstream failure ends the iteration with an
        exception, so the client's connection closes without the final chunk."""
        try:
            for part in upstream.iter_raw():
                meta["body"] += part
                if chat:
                    self.streaming.set()
                yield part
            meta["complete"] = True
        finally:
            upstream.close()

    # -- what the server answered -----------------------------------------------------------

    def chats(self) -> list[dict[str, Any]]:
        """Each chat completion request: its body, status, whether its body ended normally
        (`complete`) and with a finish reason (`finished`), its text and the usage the server
        reported (None where it reported none)."""
        out = []
        for record in self.records(lambda r: r.path.endswith("/chat/completions")):
            raw = record.meta.get("body", b"")
            out.append(
                {
                    "request": record.body,
                    "status": record.status,
                    "complete": record.meta.get("complete", False),
                    **answer_of(raw),
                }
            )
        return out


def answer_of(raw: bytes) -> dict[str, Any]:
    """Text, usage and chunk count of a chat completion body, streamed (SSE) or not."""
    text = raw.decode("utf-8", "replace")
    if not text.lstrip().startswith("data:") and not text.lstrip().startswith(":"):
        try:
            data = json.loads(text)
        except ValueError:
            return {"text": text, "usage": None, "chunks": 0, "finished": False, "error": text}
        choices = data.get("choices") or [{}]
        message = choices[0].get("message") or {}
        return {"text": message.get("content") or "", "usage": data.get("usage"), "chunks": 0,
                "finished": choices[0].get("finish_reason") is not None,
                "error": data.get("error")}  # fmt: skip
    parts, usage, chunks, finished = [], None, 0, False
    for line in text.splitlines():
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            continue
        chunk = json.loads(line[5:])
        chunks += 1
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            parts.append((choice.get("delta") or {}).get("content") or "")
            finished = finished or choice.get("finish_reason") is not None
    return {"text": "".join(parts), "usage": usage, "chunks": chunks, "finished": finished,
            "error": None}  # fmt: skip
