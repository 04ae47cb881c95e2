"""OpenAI-compatible chat server whose replies are scripted per research question."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from .base import FakeServer, RequestRecord, Response

MODEL_ID = "fake-model"
# Fixed so replies are byte-for-byte reproducible.
CREATED = 1_700_000_000

EXTRACTION_PREFIX = "Please process the following webpage content and user goal"
# graphs/prompts/ours.py PLANNER_PROMPT's first line (`ask --plan`'s planning call)
PLANNER_PREFIX = "Before any search is made, write a short plan"
DEFAULT_PLAN = "<plan>\n1. Who won it?\n2. What for?\n</plan>"
_CONTENT_RE = re.compile(
    r"## \*\*Webpage Content\*\*[ \t]*\r?\n(.*?)(?:\n\n## \*\*User Goal\*\*|\Z)", re.DOTALL
)
_GOAL_RE = re.compile(
    r"## \*\*User Goal\*\*[ \t]*\r?\n(.*?)(?:\n\n## \*\*Task Guidelines\*\*|\Z)", re.DOTALL
)


def _error(status: int, message: str, type_: str = "invalid_request_error") -> Response:
    return Response.json({"error": {"message": message, "type": type_}}, status=status)


def message_text(message: dict[str, Any]) -> str:
    """Text of a chat message whether `content` is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


_ROUND = re.compile(r"\n\nRound (\d+): think")


def iterative_round(body: dict[str, Any]) -> int | None:
    """The 0-based turn of an iterative-workspace request (its prompt names the round), else
    None; for `FakeModel.turn_of`."""
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    found = _ROUND.search(message_text(users[-1])) if users else None
    return int(found.group(1)) - 1 if found else None


def _apply_stop(content: str, stop: Any) -> str:
    """Cut at the earliest stop sequence, as a real server would."""
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str)]
    cut = min((i for s in stops if s and (i := content.find(s)) >= 0), default=len(content))
    return content[:cut]


class FakeModel(FakeServer):
    """Chat completions for the agent loop (scripted turns) and page extraction (canned JSON)."""

    # Faults model a failing generation; the server itself stays up for health checks
    # (stop() the fake to take it down).
    fault_exempt = ("/v1/models", "/models")

    def __init__(
        self,
        scripts: dict[str, list[str]] | None = None,
        extractions: dict[str, dict[str, Any]] | None = None,
        api_key: str | None = None,
    ) -> None:
        super().__init__()
        self.scripts: dict[str, list[str | dict[str, Any]]] = dict(scripts or {})
        self.extractions: dict[str, dict[str, Any]] = dict(extractions or {})
        # `ask --plan`: the planning reply per question (a key contained in the prompt)
        self.plans: dict[str, str] = {}
        self.api_key = api_key
        self._ids = itertools.count(1)
        # Optional: pick the script from the whole request (e.g. by temperature, to tell apart
        # parallel branches asking the same question); None falls back to the question.
        self.script_key: Callable[[dict[str, Any]], str | None] | None = None
        # Optional: the turn of a request whose prompt does not replay the conversation (the
        # iterative strategy's workspace); None counts the assistant messages.
        self.turn_of: Callable[[dict[str, Any]], int | None] | None = None
        # Optional: the reply (a script entry) to any request no script matches, worked out
        # from the request itself (the demo's generic model); None answers such requests 400.
        self.responder: Callable[[dict[str, Any]], str | dict[str, Any]] | None = None
        # Seconds a streamed research turn stays silent after its headers, before the first
        # chunk (a long prefill); `latency` delays the headers instead.
        self.first_token_delay: float = 0.0

    # -- helpers for tests -----------------------------------------------------------------

    def research_requests(self) -> list[RequestRecord]:
        """Agent-loop calls (meta: question, turn, content), any status the fake chose."""
        return self.records(lambda r: r.meta.get("kind") == "research")

    def planning_requests(self) -> list[RequestRecord]:
        """Planning calls (meta: content)."""
        return self.records(lambda r: r.meta.get("kind") == "planning")

    def extraction_requests(self) -> list[RequestRecord]:
        """Page-extraction calls (meta: goal, webpage, matched, content)."""
        return self.records(lambda r: r.meta.get("kind") == "extraction")

    # -- routing ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """Serve /v1/models and /v1/chat/completions (the /v1 prefix is optional)."""
        route = path.split("?", 1)[0].rstrip("/")
        if route.startswith("/v1/"):
            route = route[3:]
        if route not in ("/models", "/chat/completions"):
            return _error(404, f"Unknown route {method} {path}", "not_found_error")
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            resp = _error(401, "Invalid API key")
            resp.meta["kind"] = "unauthorized"
            return resp
        if route == "/models" and method == "GET":
            return Response.json({"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})
        if route == "/chat/completions" and method == "POST":
            return self._chat(body)
        return _error(405, f"Method {method} not allowed on {route}")

    def _chat(self, raw: bytes) -> Response:
        try:
            payload = json.loads(raw)
        except ValueError:
            return _error(400, "Request body is not valid JSON")
        messages = payload.get("messages") if isinstance(payload, dict) else None
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty list")
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        first_user = message_text(users[0]) if users else ""

        tool_calls: list[dict[str, Any]] = []
        if first_user.lstrip().startswith(EXTRACTION_PREFIX):
            content, meta = self._extraction_reply(first_user)
        elif first_user.startswith(PLANNER_PREFIX):
            found = [k for k in self.plans if k in first_user]
            content = self.plans[max(found, key=len)] if found else DEFAULT_PLAN
            meta = {"kind": "planning"}
        else:
            turn = self.turn_of(payload) if self.turn_of else None
            if turn is None:
                turn = sum(
                    1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant"
                )
            key = self.script_key(payload) if self.script_key else None
            script = self.scripts.get(key) if key else self._script_for(first_user)
            meta = {"kind": "research", "question": first_user, "turn": turn}
            if script is None and self.responder is not None:
                entry: str | dict[str, Any] = self.responder(payload)
            elif script is None:
                resp = _error(400, f"no script for question {first_user!r}")
                resp.meta.update(meta)
                return resp
            else:
                entry = script[min(turn, len(script) - 1)] if script else ""
            content, tool_calls = _entry(entry, turn)

        content = _apply_stop(content, payload.get("stop"))
        meta["content"] = content
        model = str(payload.get("model") or MODEL_ID)
        prompt_tokens = sum(len(message_text(m)) for m in messages if isinstance(m, dict)) // 4
        completion_tokens = len(content) // 4 + 1
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion_id = f"chatcmpl-fake-{next(self._ids)}"

        if payload.get("stream"):
            options = payload.get("stream_options") or {}
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            chunks = _sse_chunks(
                completion_id, model, content, usage if include_usage else None, tool_calls
            )
            if meta.get("kind") == "research" and self.first_token_delay > 0:
                chunks = self._after_silence(self.first_token_delay, chunks)
            return Response(200, {"Content-Type": "text/event-stream; charset=utf-8"}, chunks, meta)
        return Response.json(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": CREATED,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": content,
                            **({"tool_calls": tool_calls} if tool_calls else {}),
                        },
                        "logprobs": None,
                        "finish_reason": "tool_calls" if tool_calls else "stop",
                    }
                ],
                "usage": usage,
            },
            meta=meta,
        )

    def _after_silence(self, seconds: float, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The stream, its first chunk held back `seconds` (headers already sent)."""
        self._stopped.wait(seconds)
        yield from chunks

    def _script_for(self, question: str) -> list[str] | None:
        """Exact question first; else the longest script key contained in the message."""
        if question in self.scripts:
            return self.scripts[question]
        if question.strip() in self.scripts:
            return self.scripts[question.strip()]
        contained = [k for k in self.scripts if k and k in question]
        return self.scripts[max(contained, key=len)] if contained else None

    def _extraction_reply(self, prompt: str) -> tuple[str, dict[str, Any]]:
        page_match = _CONTENT_RE.search(prompt)
        goal_match = _GOAL_RE.search(prompt)
        webpage = page_match.group(1) if page_match else ""
        goal = goal_match.group(1).strip() if goal_match else ""
        matched = next((k for k in self.extractions if k in webpage), None)
        if matched is not None:
            answer: dict[str, Any] = self.extractions[matched]
        else:
            answer = {
                "rational": "scanned the page",
                "evidence": webpage[:300],
                "summary": f"Page content relevant to: {goal}",
            }
        meta = {"kind": "extraction", "goal": goal, "webpage": webpage, "matched": matched}
        return json.dumps(answer), meta


def _entry(entry: str | dict[str, Any], turn: int) -> tuple[str, list[dict[str, Any]]]:
    """A script entry: plain text, or {"content": ..., "tool_calls": [{"name", "arguments"}]}
    for native function calling (arguments as a dict, or a raw string to send malformed JSON)."""
    if isinstance(entry, str):
        return entry, []
    calls = []
    for index, call in enumerate(entry.get("tool_calls") or []):
        arguments = call.get("arguments", {})
        calls.append(
            {
                "id": call.get("id", f"call_{turn}_{index}"),
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    return str(entry.get("content") or ""), calls


def chunk_event(
    completion_id: str, model: str, choices: list[dict[str, Any]], **extra: Any
) -> bytes:
    """One server-sent `chat.completion.chunk` event, as OpenAI-compatible servers stream."""
    chunk = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


def _sse_chunks(
    completion_id: str,
    model: str,
    content: str,
    usage: dict[str, int] | None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> Iterator[bytes]:
    """chat.completion.chunk events: 3 content pieces, tool-call deltas (name first, arguments
    in two pieces), a stop chunk, optional usage, [DONE]."""

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return chunk_event(completion_id, model, choices, **extra)

    n = len(content)
    bounds = [0, n // 3, 2 * n // 3, n]
    for i in range(3):
        delta: dict[str, Any] = {"content": content[bounds[i] : bounds[i + 1]]}
        if i == 0:
            delta = {"role": "assistant", **delta}
        yield event([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])
    for index, call in enumerate(tool_calls or []):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        head = {"index": index, "id": call["id"], "type": "function"}
        pieces = [
            {**head, "function": {"name": call["function"]["name"], "arguments": ""}},
            {"index": index, "function": {"arguments": arguments[:half]}},
            {"index": index, "function": {"arguments": arguments[half:]}},
        ]
        for piece in pieces:
            delta = {"tool_calls": [piece]}
            yield event([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])
    finish = "tool_calls" if tool_calls else "stop"
    yield event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}])
    if usage is not None:
        yield event([], usage=usage)
    yield b"data: [DONE]\n\n"
