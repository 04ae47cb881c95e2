"""Model calls: one streamed chat completion against an OpenAI-compatible endpoint, and the
`think` node that runs one research turn through it."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import httpx
import openai
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ModelEndpoint, current, current_replica
from activities.errors import ConfigurationError, from_openai, from_transport
from activities.metrics import count
from graphs.protocol import Completion, dialect_of, tongyi
from graphs.state import Sampling, to_messages
from graphs.strategies import strategy_of
from graphs.tokens import estimate_tokens


class ChatResult(BaseModel):
    text: str
    prompt_tokens: int
    completion_tokens: int
    reasoning: str = ""
    tool_calls: list[dict[str, str]] = []  # native calls: id, name, arguments (JSON text)
    estimated_tokens: int = 0  # of the counts, ours (the server reported no usage for them)


# The old name of the tongyi dialect's reasoning re-wrap (now part of its `parse`).
_wrap_reasoning = tongyi.with_reasoning


async def chat(
    endpoint: ModelEndpoint,
    messages: list[dict[str, Any]],
    sampling: Sampling,
    stop: list[str] | None = None,
    temperature: float | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> ChatResult:
    """Stream one completion with the whole of `sampling`, as the reference's call_server sends
    its research model; an empty completion is retryable, as the reference retries it."""
    params: dict[str, Any] = {
        "stop": stop,
        "temperature": sampling.temperature if temperature is None else temperature,
        "top_p": sampling.top_p,
        "presence_penalty": sampling.presence_penalty,
        "max_tokens": sampling.max_tokens,
        **({"seed": sampling.seed} if sampling.seed is not None else {}),
        **({"tools": tools} if tools else {}),
    }
    return await complete(endpoint, messages, params, stream=endpoint.stream)


class _CutOff(Exception):
    """A stream that ended without a finish reason: cut off, not finished. llama-cpp-python
    ends a stream that a newer request interrupts with a clean `[DONE]`, and answers a prompt
    past its context window with an empty 200 stream (the error only in its log)."""


_Calls = dict[int, dict[str, str]]


# The request fields in the order `chat.completions.create` writes them, so that a request
# goes out byte for byte as the SDK's typed call (and the reference) sends it.
_FIELD_ORDER = {
    name: rank
    for rank, name in enumerate(
        ("model", "stream", "messages", "frequency_penalty", "max_tokens", "presence_penalty",
         "seed", "stop", "stream_options", "temperature", "tool_choice", "tools", "top_p")
    )
}  # fmt: skip


def request_body(
    model: str, messages: list[dict[str, Any]], params: Mapping[str, Any], *, stream: bool = False
) -> dict[str, Any]:
    """The JSON body of a chat completion request: model, messages and exactly `params`."""
    fields: dict[str, Any] = {"model": model, "messages": messages, **params}
    if stream:
        fields["stream"] = True
    return dict(
        sorted(fields.items(), key=lambda item: _FIELD_ORDER.get(item[0], len(_FIELD_ORDER)))
    )


async def _post(endpoint: ModelEndpoint, body: dict[str, Any], *, stream: bool = False) -> Any:
    """POST /chat/completions through the SDK's client (its auth, timeouts, error types and SSE
    decoding) with the body as built and the answer as parsed JSON. The typed
    `chat.completions.create` walks every message through its param transform and builds a
    model per chunk: 12.5 ms of the event loop's CPU a call on a 22-message conversation and
    38 ms on 82 messages, against 3.8 and 6.4 ms here (`tests.benchmarks.model_client`)."""
    if stream:
        return await endpoint.client.post(
            "/chat/completions",
            body=body,
            cast_to=object,
            stream=True,
            stream_cls=openai.AsyncStream[object],
        )
    return await endpoint.client.post("/chat/completions", body=body, cast_to=object)


async def _streamed(
    endpoint: ModelEndpoint, messages: list[dict[str, Any]], params: Mapping[str, Any]
) -> tuple[str, str, _Calls, Any]:
    """(text, reasoning, tool calls, usage) of a streamed completion (the worker's `KeepAlive`
    heartbeats meanwhile, also while the server is still prefilling)."""
    parts: list[str] = []
    thinking: list[str] = []
    calls: _Calls = {}
    usage: Any = None
    finished = False
    stall = endpoint.stall_seconds
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(stall) as silence:
            stream = await _post(
                endpoint,
                request_body(
                    endpoint.model,
                    messages,
                    {**params, "stream_options": {"include_usage": True}},
                    stream=True,
                ),
                stream=True,
            )
            async with stream:  # closed (its connection freed) also when it stalls
                async for chunk in stream:
                    if stall is not None:
                        silence.reschedule(loop.time() + stall)
                    if not isinstance(chunk, dict):
                        continue  # not a chunk: nothing to fold in
                    finished = _add_chunk(chunk, parts, thinking, calls) or finished
                    usage = chunk.get("usage") or usage
    except TimeoutError:
        raise ApplicationError(
            f"model endpoint sent nothing for {stall:g} s (DEEPRESEARCH_MODEL_STALL_SECONDS)",
            type="ModelStalled",
        ) from None
    if not finished:
        raise _CutOff
    return "".join(parts), "".join(thinking), calls, usage


def _add_chunk(chunk: dict[str, Any], parts: list[str], thinking: list[str], calls: _Calls) -> bool:
    """Fold one streamed chunk (its JSON, as the server sent it) into the text, reasoning and
    tool-call parts; whether it carries the finish reason. Fields of the wrong type count as
    absent: a malformed chunk adds nothing rather than failing the call."""
    choice = _first_choice(chunk)
    if not choice:
        return False
    delta = _dict(choice.get("delta"))
    content = delta.get("content")
    if isinstance(content, str):
        parts.append(content)
    extra = delta.get("reasoning_content") or delta.get("reasoning")
    if isinstance(extra, str):
        thinking.append(extra)
    tool_calls = delta.get("tool_calls")
    for part in tool_calls if isinstance(tool_calls, list) else []:
        if not isinstance(part, dict) or not isinstance(part.get("index", 0), int):
            continue
        call = calls.setdefault(part.get("index", 0), {"id": "", "name": "", "arguments": ""})
        call["id"] = _text(part.get("id")) or call["id"]
        function = _dict(part.get("function"))
        call["name"] += _text(function.get("name"))
        call["arguments"] += _text(function.get("arguments"))
    return choice.get("finish_reason") is not None


async def _single(
    endpoint: ModelEndpoint, messages: list[dict[str, Any]], params: Mapping[str, Any]
) -> tuple[str, str, _Calls, Any]:
    """(text, reasoning, tool calls, usage) of one unstreamed completion."""
    response = _dict(await _post(endpoint, request_body(endpoint.model, messages, params)))
    usage = response.get("usage")
    choice = _first_choice(response)
    if not choice:
        return "", "", {}, usage
    message = _dict(choice.get("message"))
    extra = message.get("reasoning_content") or message.get("reasoning")
    calls: _Calls = {}
    tool_calls = message.get("tool_calls")
    for index, entry in enumerate(tool_calls if isinstance(tool_calls, list) else []):
        call = _dict(entry)
        function = _dict(call.get("function"))
        calls[index] = {
            "id": _text(call.get("id")),
            "name": _text(function.get("name")),
            "arguments": _text(function.get("arguments")),
        }
    reasoning = extra if isinstance(extra, str) else ""
    return _text(message.get("content")), reasoning, calls, usage


def _first_choice(answer: dict[str, Any]) -> dict[str, Any]:
    """The first of an answer's (or chunk's) `choices`, or {} where there is none."""
    choices = answer.get("choices")
    return _dict(choices[0]) if isinstance(choices, list) and choices else {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _tokens(usage: Any, key: str) -> int | None:
    value = _dict(usage).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def complete(
    endpoint: ModelEndpoint,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
    *,
    stream: bool = True,
) -> ChatResult:
    """One completion whose request holds model, messages and exactly `params`: streamed
    (usage requested), or with `stream=False` a plain request, for
    calls that send only what the reference sends (the page extraction). An empty completion
    is retryable, as the reference retries it."""
    try:
        try:
            read = _streamed if stream else _single
            text, reasoning, calls, usage = await read(endpoint, messages, params)
        except _CutOff:
            # Asked again unstreamed, the server answers whole or says why it cannot (e.g.
            # HTTP 400 for a prompt past its context window) instead of a retry loop.
            if activity.in_activity():
                activity.logger.warning("model stream ended without a finish reason; re-asked")
            text, reasoning, calls, usage = await _single(endpoint, messages, params)
    except openai.OpenAIError as error:
        raise from_openai("model endpoint", error) from error
    except httpx.HTTPError as error:  # a stream cut off mid-body: the SDK does not wrap these
        raise from_transport("model endpoint", error) from error
    if not (text.strip() or reasoning.strip() or calls):
        raise ApplicationError(
            "model endpoint returned an empty completion", type="EmptyCompletion"
        )
    count("model_calls", model=endpoint.model)
    estimated = 0
    prompt_tokens = _tokens(usage, "prompt_tokens")
    if prompt_tokens is None:
        prompt_tokens = sum(estimate_tokens(str(m.get("content") or "")) for m in messages)
        estimated += prompt_tokens
    completion_tokens = _tokens(usage, "completion_tokens")
    if completion_tokens is None:
        completion_tokens = estimate_tokens(text + reasoning + str(calls))
        estimated += completion_tokens
    count("tokens", prompt_tokens, model=endpoint.model, kind="prompt")
    count("tokens", completion_tokens, model=endpoint.model, kind="completion")
    return ChatResult(
        text=text,
        reasoning=reasoning,
        tool_calls=[calls[index] for index in sorted(calls)],
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        estimated_tokens=estimated,
    )


class ThinkRequest(BaseModel):
    """Input of the model-call activity: the graph state (claim-checked, it holds the whole
    conversation)."""

    state: dict[str, Any]


class ThinkResult(BaseModel):
    update: dict[str, Any]
    replica: str


@activity.defn(name="llm.think")
async def think_activity(request: ThinkRequest) -> ThinkResult:
    """One research turn on this inference worker's model server; the result names the
    replica so the session's next turns go back to it (its prefix cache holds the
    conversation)."""
    replica = current_replica()
    if replica.slots is None:
        update = await think(request.state, replica.endpoint)
    else:
        await replica.slots.acquire()  # a generation slot on this server (KeepAlive beats)
        try:
            update = await think(request.state, replica.endpoint)
        finally:
            replica.slots.release()
    return ThinkResult(update=update, replica=replica.name)


async def healthy(endpoint: ModelEndpoint, timeout: float = 3.0) -> bool:
    """Whether the model server answers (`/models`); inference workers poll only while it does."""
    try:
        await endpoint.client.with_options(timeout=timeout).models.list()
    except openai.APIStatusError as error:
        return error.status_code == 404  # a server without /models is judged by its calls
    except openai.OpenAIError:
        return False
    return True


async def think(state: dict[str, Any], endpoint: ModelEndpoint | None = None) -> dict[str, Any]:
    """One research turn: render the conversation, call the model, parse its actions."""
    endpoint = endpoint or current().research_model
    if state.get("model"):  # a fork asks the same server for another of its models
        endpoint = dataclasses.replace(endpoint, model=state["model"])
    turn = state.get("llm_calls", 0) + 1
    messages = to_messages(state["messages"])
    sampling = Sampling(**state.get("sampling", {}))
    dialect, strategy = dialect_of(state), strategy_of(state)
    prompt = strategy.render(messages, state, dialect)
    result = await chat(
        endpoint, prompt, sampling, list(dialect.stop) or None, tools=dialect.tools or None
    )
    completion = Completion(result.text, result.reasoning, result.tool_calls)
    message = dialect.parse(completion, turn, state.get("question", ""))
    extra = strategy.after_turn(message, state)
    if activity.in_activity():
        activity.logger.info("turn %d: %d prompt tokens", turn, result.prompt_tokens)
    return {
        "messages": [message],
        "llm_calls": turn,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        **({"estimated_tokens": result.estimated_tokens} if result.estimated_tokens else {}),
        "context_tokens": result.prompt_tokens + result.completion_tokens,
        "clock": time.time(),
        **extra,
    }


async def probe(endpoint: ModelEndpoint, timeout: float = 5.0) -> None:
    """Fail fast on an endpoint that is unreachable or rejects the key, before a session starts
    (once started, a session retries the endpoint within its budget instead)."""
    client = endpoint.client.with_options(timeout=timeout)
    try:
        await client.models.list()
    except openai.APIConnectionError as error:
        raise ConfigurationError(
            f"cannot reach the model endpoint at {endpoint.client.base_url} ({error}); "
            "check OPENAI_BASE_URL"
        ) from None
    except openai.AuthenticationError:
        raise ConfigurationError(
            f"the model endpoint at {endpoint.client.base_url} rejected the key; "
            "check OPENAI_API_KEY"
        ) from None
    except openai.APIStatusError:
        pass  # some servers have no /models; the session's own calls will tell
