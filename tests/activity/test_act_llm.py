"""`chat` (one streamed completion) and the `think` node, against OpenAI-compatible fakes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from temporalio.exceptions import ApplicationError

from activities.context import ModelEndpoint, ToolContext
from activities.errors import ConfigurationError
from activities.llm import _wrap_reasoning, chat, probe, think
from graphs import prompts
from graphs.react import estimate_tokens
from graphs.state import Sampling
from tests.activity.helpers import StaticServer, delta_event, sse_event, sse_response
from tests.fakes import FakeModel, FakeServer, Response

QUESTION = "Which element has atomic number 79?"
ANSWER = "<think>\nGold is element 79.\n</think>\n<answer>Gold</answer>"
TOOL_TURN = (
    "<think>I should search.</think>\n<tool_call>\n"
    '{"name": "search", "arguments": {"query": ["atomic number 79"]}}\n</tool_call>'
)

Endpoints = Callable[..., ModelEndpoint]


def _user(text: str = QUESTION) -> list[dict[str, str]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


@pytest.fixture
def scripted(model: FakeModel) -> FakeModel:
    model.scripts[QUESTION] = [TOOL_TURN, ANSWER]
    model.scripts["empty please"] = [""]
    model.scripts["blank please"] = ["   \n\t "]
    return model


async def test_streams_text_and_usage(tools: ToolContext, scripted: FakeModel) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": QUESTION}]
    messages.append({"role": "assistant", "content": "first turn"})
    messages.append({"role": "user", "content": "<tool_response>\nresults\n</tool_response>"})
    result = await chat(tools.research_model, messages, Sampling())
    assert result.text == ANSWER  # turn 1: one assistant message so far
    # The fake counts len(text) // 4 over all messages, and len(reply) // 4 + 1.
    assert result.prompt_tokens == sum(len(m["content"]) for m in messages) // 4
    assert result.completion_tokens == len(ANSWER) // 4 + 1


async def test_request_parameters(tools: ToolContext, scripted: FakeModel) -> None:
    await chat(tools.research_model, _user(), Sampling(), stop=["</answer>"])
    (record,) = scripted.research_requests()
    body = record.body
    assert body["model"] == "fake-model"
    assert body["messages"] == _user()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["top_p"], body["presence_penalty"]) == (0.6, 0.95, 1.1)
    assert body["max_tokens"] == 10_000
    assert body["stop"] == ["</answer>"]


async def _typed_call(endpoint: ModelEndpoint, body: dict[str, Any]) -> None:
    """The same request through the SDK's typed `chat.completions.create`."""
    fields = {k: v for k, v in body.items() if k != "model"}
    reply = await endpoint.client.chat.completions.create(model=endpoint.model, **fields)
    if fields.get("stream"):
        async with reply:  # type: ignore[union-attr]
            async for _ in reply:  # type: ignore[union-attr]
                pass


@pytest.mark.parametrize(
    ("stream", "sampling", "stop", "schema"),
    [
        (True, Sampling(), None, None),
        (True, Sampling(seed=7, max_tokens=123), ["\n<tool_response>", "<tool_response>"], None),
        (True, Sampling(), None, [{"type": "function", "function": {"name": "search"}}]),
        (False, Sampling(), ["</answer>"], None),
    ],
)
async def test_request_bytes_match_the_sdks_typed_call(
    tools: ToolContext,
    scripted: FakeModel,
    stream: bool,
    sampling: Sampling,
    stop: list[str] | None,
    schema: list[dict[str, Any]] | None,
) -> None:
    """The request goes out byte for byte as `chat.completions.create` writes it (field order,
    nulls, nested messages), although it skips the SDK's param transform."""
    endpoint = replace(tools.research_model, stream=stream)
    messages = _user() + [{"role": "assistant", "content": "turn \u00e9"}]
    await chat(endpoint, messages, sampling, stop=stop, tools=schema)
    ours = scripted.research_requests()[-1]
    await _typed_call(endpoint, ours.body)
    typed = scripted.research_requests()[-1]
    assert ours is not typed
    assert ours.raw == typed.raw
    assert ("stream" in ours.body) is stream


async def test_stop_sequence_and_temperature_override(
    tools: ToolContext, scripted: FakeModel
) -> None:
    scripted.scripts["hallucinate"] = ["<tool_call>x</tool_call>\n<tool_response>\nfake!"]
    result = await chat(
        tools.research_model,
        _user("hallucinate"),
        Sampling(temperature=0.85, top_p=0.5),
        stop=list(prompts.STOP_SEQUENCES),
        temperature=0.1,
    )
    assert result.text == "<tool_call>x</tool_call>"
    body = scripted.research_requests()[0].body
    assert (body["temperature"], body["top_p"]) == (0.1, 0.5)
    assert body["stop"] == ["\n<tool_response>", "<tool_response>"]


@pytest.mark.parametrize("question", ["empty please", "blank please"])
async def test_empty_completion_is_retryable(
    tools: ToolContext, scripted: FakeModel, question: str
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await chat(tools.research_model, _user(question), Sampling())
    assert not caught.value.non_retryable
    assert caught.value.type == "EmptyCompletion"
    assert scripted.research_requests()[0].status == 200


async def test_unauthorized_is_non_retryable(endpoint_for: Endpoints) -> None:
    with FakeModel(scripts={QUESTION: [ANSWER]}, api_key="sk-right") as fake:
        with pytest.raises(ApplicationError) as caught:
            await chat(endpoint_for(fake, api_key="sk-wrong"), _user(), Sampling())
        assert [r.status for r in fake.records()] == [401]
    assert caught.value.non_retryable
    assert caught.value.type == "HTTP401"
    # With the right key the same call works.
    with FakeModel(scripts={QUESTION: [ANSWER]}, api_key="sk-right") as fake:
        result = await chat(endpoint_for(fake, api_key="sk-right"), _user(), Sampling())
    assert result.text == ANSWER


async def test_503_is_retryable(tools: ToolContext, scripted: FakeModel) -> None:
    scripted.fail_next(1, 503)
    with pytest.raises(ApplicationError) as caught:
        await chat(tools.research_model, _user(), Sampling())
    assert not caught.value.non_retryable
    assert caught.value.type == "HTTP503"
    assert (await chat(tools.research_model, _user(), Sampling())).text == TOOL_TURN


async def test_429_retry_after(tools: ToolContext, scripted: FakeModel) -> None:
    scripted.fail_next(1, 429, retry_after=4)
    with pytest.raises(ApplicationError) as caught:
        await chat(tools.research_model, _user(), Sampling())
    assert not caught.value.non_retryable
    assert caught.value.next_retry_delay == timedelta(seconds=4)


async def test_400_is_non_retryable(tools: ToolContext, scripted: FakeModel) -> None:
    # The fake answers 400 to a question it has no script for.
    with pytest.raises(ApplicationError) as caught:
        await chat(tools.research_model, _user("unscripted question"), Sampling())
    assert caught.value.non_retryable
    assert "no script for question" in caught.value.message


async def test_hang_is_retryable_timeout(endpoint_for: Endpoints, scripted: FakeModel) -> None:
    scripted.hang_next(1)
    with pytest.raises(ApplicationError) as caught:
        await chat(endpoint_for(scripted, timeout=0.3), _user(), Sampling())
    assert not caught.value.non_retryable
    assert caught.value.type == "APITimeoutError"


# -- reasoning, usage and stream failures (test-local SSE servers) --------------------------


def _usage(prompt: int, completion: int) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return sse_event([], usage={**usage, "total_tokens": prompt + completion})


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_is_rewrapped_in_think(endpoint_for: Endpoints, field: str) -> None:
    events = [
        delta_event({"role": "assistant", field: "  Seventy-nine protons"}),
        delta_event({field: " means gold.\n"}),
        delta_event({"content": "<answer>Gold"}),
        delta_event({"content": "</answer>"}),
        delta_event({}, "stop"),
        _usage(123, 45),
        b"data: [DONE]\n\n",
    ]
    with StaticServer(lambda *_: sse_response(events)) as server:
        result = await chat(endpoint_for(server), _user(), Sampling())
    assert result.text == "<answer>Gold</answer>"
    assert result.reasoning == "  Seventy-nine protons means gold.\n"
    # The Tongyi dialect re-wraps a separately returned thought inline, as the reference does.
    wrapped = _wrap_reasoning(result.reasoning, result.text)
    assert wrapped == "<think>\nSeventy-nine protons means gold.\n</think><answer>Gold</answer>"
    assert (result.prompt_tokens, result.completion_tokens) == (123, 45)


async def test_malformed_chunks_add_nothing(endpoint_for: Endpoints) -> None:
    """Chunks of the wrong shape (as a broken server sends them) are skipped field by field:
    the good parts still make the completion, bad usage counts falls back to estimates."""
    events = [
        b"data: [1, 2]\n\n",
        b'data: {"choices": "none"}\n\n',
        sse_event(["not a choice"]),
        delta_event({"role": "assistant", "content": 7, "reasoning_content": ["x"]}),
        delta_event({"content": "<answer>Gold"}),
        delta_event({"tool_calls": ["x", {"index": "0"}, {"index": 0, "function": "f"}]}),
        delta_event({"content": "</answer>"}, "stop"),
        sse_event([], usage={"prompt_tokens": "12", "completion_tokens": True}),
        b"data: [DONE]\n\n",
    ]
    messages = _user()
    with StaticServer(lambda *_: sse_response(events)) as server:
        result = await chat(endpoint_for(server), messages, Sampling())
    assert (result.text, result.reasoning) == ("<answer>Gold</answer>", "")
    assert result.tool_calls == [{"id": "", "name": "", "arguments": ""}]
    assert result.prompt_tokens == sum(estimate_tokens(m["content"]) for m in messages)
    assert result.completion_tokens > 0


async def test_reasoning_not_wrapped_when_content_has_think(endpoint_for: Endpoints) -> None:
    events = [
        delta_event({"role": "assistant", "reasoning_content": "hidden"}),
        delta_event({"content": "<think>inline</think><answer>x</answer>"}, "stop"),
        b"data: [DONE]\n\n",
    ]
    with StaticServer(lambda *_: sse_response(events)) as server:
        result = await chat(endpoint_for(server), _user(), Sampling())
    text = "<think>inline</think><answer>x</answer>"
    assert _wrap_reasoning(result.reasoning, result.text) == text


async def test_reasoning_only_is_not_empty(endpoint_for: Endpoints) -> None:
    events = [delta_event({"role": "assistant", "reasoning_content": "thinking"}, "stop")]
    with StaticServer(lambda *_: sse_response([*events, b"data: [DONE]\n\n"])) as server:
        result = await chat(endpoint_for(server), _user(), Sampling())
    assert result.text == "" and result.reasoning == "thinking"
    assert _wrap_reasoning(result.reasoning, result.text) == "<think>\nthinking\n</think>"


async def test_without_usage_tokens_are_estimated(endpoint_for: Endpoints) -> None:
    events = [delta_event({"role": "assistant", "content": "<answer>ok</answer>"}, "stop")]
    messages = _user()
    with StaticServer(lambda *_: sse_response([*events, b"data: [DONE]\n\n"])) as server:
        result = await chat(endpoint_for(server), messages, Sampling())
    assert result.prompt_tokens == sum(estimate_tokens(m["content"]) for m in messages)
    assert result.completion_tokens == estimate_tokens("<answer>ok</answer>")


def _cut_off_then_plain(plain: Response) -> Callable[..., Response]:
    """A server as llama-cpp-python is: a stream that another request interrupts, or whose
    prompt is past the context window, ends with no finish reason; asked plainly, it answers
    whole or with its error."""

    def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        if json.loads(body).get("stream"):
            return sse_response([delta_event({"role": "assistant", "content": "<ans"}),
                                 b"data: [DONE]\n\n"])  # fmt: skip
        return plain

    return answer


async def test_stream_without_finish_reason_is_asked_again_plainly(
    endpoint_for: Endpoints,
) -> None:
    message = {"role": "assistant", "content": "<answer>whole</answer>"}
    whole = {
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26},
    }
    with StaticServer(_cut_off_then_plain(Response.json(whole))) as server:
        result = await chat(endpoint_for(server), _user(), Sampling())
    assert result.text == "<answer>whole</answer>"
    assert (result.prompt_tokens, result.completion_tokens) == (21, 5)  # the server's own


async def test_prompt_past_the_context_window_fails_once(endpoint_for: Endpoints) -> None:
    """llama-cpp-python streams nothing (HTTP 200) for a prompt past its window; asked plainly
    it says so with a 400: one non-retryable error, not an empty-completion retry loop."""
    message = ("This model's maximum context length is 4096 tokens. However, you requested "
               "5010 tokens (4990 in the messages, 20 in the completion).")  # fmt: skip
    error = {"error": {"message": message, "type": "invalid_request_error",
             "code": "context_length_exceeded"}}  # fmt: skip
    with StaticServer(_cut_off_then_plain(Response.json(error, status=400))) as server:
        with pytest.raises(ApplicationError) as caught:
            await chat(endpoint_for(server), _user(), Sampling())
    assert caught.value.non_retryable and caught.value.type == "HTTP400"
    assert "maximum context length is 4096 tokens" in str(caught.value)


def _chunked(events: list[bytes]) -> Iterator[bytes]:
    for event in events:
        yield f"{len(event):x}\r\n".encode() + event + b"\r\n"
    # no terminating zero-size chunk: the connection closes in the middle of the body


async def test_connection_dropped_mid_stream_is_retryable(endpoint_for: Endpoints) -> None:
    def answer(*_: object) -> Response:
        headers = {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}
        return Response(200, headers, _chunked([delta_event({"content": "partial"})]))

    with StaticServer(answer) as server:
        with pytest.raises(ApplicationError) as caught:
            await chat(endpoint_for(server), _user(), Sampling())
    assert not caught.value.non_retryable


async def test_stall_mid_stream_is_retryable(endpoint_for: Endpoints) -> None:
    def stall() -> Iterator[bytes]:
        yield delta_event({"role": "assistant", "content": "partial"})
        time.sleep(1.0)
        yield delta_event({"content": " late"})

    headers = {"Content-Type": "text/event-stream"}
    with StaticServer(lambda *_: Response(200, headers, stall())) as server:
        with pytest.raises(ApplicationError) as caught:
            await chat(endpoint_for(server, timeout=0.3), _user(), Sampling())
    assert not caught.value.non_retryable
    assert caught.value.type == "APITimeoutError"


# -- the think node ------------------------------------------------------------------------


async def test_think_node_parses_tool_call(
    tools: ToolContext, scripted: FakeModel, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    state = {"messages": [HumanMessage(content=QUESTION, id="h1")], "today": "2025-01-02"}
    before = time.time()
    update = await think(state)
    (message,) = update["messages"]
    assert isinstance(message, AIMessage)
    assert message.id == "ai-1"
    assert message.content == TOOL_TURN
    assert [(c["name"], c["args"], c["id"]) for c in message.tool_calls] == [
        ("search", {"query": ["atomic number 79"]}, "call-1")
    ]
    assert update["llm_calls"] == 1
    (record,) = scripted.research_requests()
    sent = record.body["messages"]
    assert sent == [
        {"role": "system", "content": prompts.SYSTEM_PROMPT + "2025-01-02"},
        {"role": "user", "content": QUESTION},
    ]
    assert record.body["stop"] == list(prompts.STOP_SEQUENCES)
    assert update["prompt_tokens"] == sum(len(m["content"]) for m in sent) // 4
    assert update["completion_tokens"] == len(TOOL_TURN) // 4 + 1
    assert update["context_tokens"] == update["prompt_tokens"] + update["completion_tokens"]
    assert update["clock"] >= before


async def test_think_node_second_turn_with_sampling(
    tools: ToolContext, scripted: FakeModel, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    first = AIMessage(content=TOOL_TURN, id="ai-1")
    state = {
        "messages": [
            HumanMessage(content=QUESTION, id="h1"),
            first,
            ToolMessage(content="Gold has atomic number 79.", tool_call_id="call-1", id="t1"),
        ],
        "today": "2025-01-02",
        "llm_calls": 1,
        "sampling": {"temperature": 0.85},
    }
    update = await think(state)
    (message,) = update["messages"]
    assert message.id == "ai-2" and message.content == ANSWER.strip()
    assert message.tool_calls == []
    assert update["llm_calls"] == 2
    body = scripted.research_requests()[0].body
    assert body["temperature"] == 0.85
    assert body["messages"][2:] == [
        {"role": "assistant", "content": TOOL_TURN},
        {
            "role": "user",
            "content": "<tool_response>\nGold has atomic number 79.\n</tool_response>",
        },
    ]


async def test_think_node_empty_completion_raises_retryable(
    tools: ToolContext, scripted: FakeModel, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    state = {"messages": [HumanMessage(content="empty please")], "today": "2025-01-02"}
    with pytest.raises(ApplicationError) as caught:
        await think(state)
    assert not caught.value.non_retryable


# -- probe: fail fast before a session starts -----------------------------------------------


async def test_probe_accepts_a_working_endpoint(tools: ToolContext, model: FakeModel) -> None:
    await probe(tools.research_model)
    assert [(r.method, r.path) for r in model.records()] == [("GET", "/v1/models")]


async def test_probe_unreachable_is_configuration_error(endpoint_for: Endpoints) -> None:
    fake = FakeServer().start()
    endpoint = endpoint_for(fake)
    fake.stop()
    with pytest.raises(ConfigurationError, match="cannot reach the model endpoint"):
        await probe(endpoint, timeout=1)


async def test_probe_wrong_key_is_configuration_error(endpoint_for: Endpoints) -> None:
    with FakeModel(api_key="sk-right") as fake:
        with pytest.raises(ConfigurationError, match="rejected the key"):
            await probe(endpoint_for(fake, api_key="sk-wrong"))


async def test_probe_tolerates_missing_models_route(endpoint_for: Endpoints) -> None:
    with StaticServer(lambda *_: Response.json({"error": "no such route"}, 404)) as server:
        await probe(endpoint_for(server))
        assert [r.path for r in server.records()] == ["/v1/models"]


async def test_probe_hang_is_configuration_error(endpoint_for: Endpoints) -> None:
    with FakeModel() as fake:
        fake.fault_exempt = ()  # let the hang hit /models too
        fake.hang_next(1)
        with pytest.raises(ConfigurationError, match="cannot reach"):
            await probe(endpoint_for(fake), timeout=0.3)
