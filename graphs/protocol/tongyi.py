"""The Tongyi DeepResearch text dialect: <think>/<tool_call>/<tool_response>/<answer>."""

from __future__ import annotations

import json
from typing import Any

import json5
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from graphs import prompts
from graphs.protocol.dialect import Completion, Dialect

NAME = "tongyi"


def system_prompt(today: str) -> str:
    """The reference's system prompt with the date appended after "Current date: "."""
    return prompts.SYSTEM_PROMPT + today


def render(messages: list[AnyMessage], today: str) -> list[dict[str, str]]:
    """Internal messages -> the chat messages the reference sends (tools live in the prompt)."""
    out = [{"role": "system", "content": system_prompt(today)}]
    for message in messages:
        if isinstance(message, ToolMessage):
            content = str(message.content)
            wrapped = prompts.TOOL_RESPONSE_PREFIX + content + prompts.TOOL_RESPONSE_SUFFIX
            out.append({"role": "user", "content": wrapped})
        elif isinstance(message, AIMessage):
            out.append({"role": "assistant", "content": str(message.content)})
        else:
            out.append({"role": "user", "content": str(message.content)})
    return out


def with_reasoning(reasoning: str, content: str) -> str:
    """Servers with a reasoning parser (vLLM, OpenRouter) return the thought apart; this dialect
    expects it inline, as the reference re-wraps it."""
    if reasoning.strip() and "<think>" not in content:
        return f"<think>\n{reasoning.strip()}\n</think>{content}"
    return content


def clean_completion(text: str) -> str:
    """Cut a hallucinated tool response and trim, as the reference does before storing."""
    if "<tool_response>" in text:
        text = text[: text.find("<tool_response>")]
    return text.strip()


def extract_answer(text: str) -> str | None:
    """The text inside <answer>...</answer>, or None when the turn holds no complete answer."""
    if "<answer>" in text and "</answer>" in text:
        return text.split("<answer>")[1].split("</answer>")[0]
    return None


def _invalid(call_id: str, raw: str, error: str) -> dict[str, Any]:
    return {"name": None, "args": raw, "id": call_id, "error": error, "type": "invalid_tool_call"}


def loads(text: str) -> Any:
    """`json5.loads`, with the C `json` parser first: json5 is pure Python and most calls are
    plain JSON. Where `json` parses, json5 gives the same value; anything else (comments,
    single quotes, trailing commas, raw newlines in strings...) goes to json5 as before."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return json5.loads(text)


def _parse_json_call(raw: str) -> dict[str, Any] | None:
    try:
        call = loads(raw)
    except (ValueError, RecursionError):  # RecursionError: pathologically nested output
        return None
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    args = call.get("arguments", {})
    if isinstance(args, str):  # some models emit the arguments as a JSON string
        try:
            args = loads(args) if args.strip() else {}
        except (ValueError, RecursionError):
            return None
    if not isinstance(args, dict):
        return None
    return {"name": call["name"], "args": args}


def parse_tool_call(raw: str, call_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Parse one <tool_call> body into (tool_call, invalid_tool_call); exactly one is set.

    Routed by the parsed name, not by a substring test on the raw text as the reference does
    (where a search for "python tutorial" went to the interpreter).
    """
    call = _parse_json_call(raw.strip())
    code = None
    if (call is None or call["name"] == "PythonInterpreter") and "<code>" in raw:
        call = _parse_json_call(raw.split("<code>")[0].strip())
        code = raw.split("<code>")[1].split("</code>")[0].strip() if "</code>" in raw else None
    if call is None:
        if "python" in raw.lower():  # a mangled interpreter call: the reference's message
            return None, _invalid(call_id, raw, prompts.PYTHON_FORMAT_ERROR)
        return None, _invalid(call_id, raw, prompts.INVALID_TOOL_CALL_JSON)
    if call["name"] == "PythonInterpreter":
        if code is None:
            return None, _invalid(call_id, raw, prompts.PYTHON_FORMAT_ERROR)
        call["args"] = {**call["args"], "code": code}
    return {**call, "id": call_id, "type": "tool_call"}, None


def parse(completion: str, turn: int) -> AIMessage:
    """A raw completion -> AIMessage with the first tool call (the reference runs only one)."""
    content = clean_completion(completion)
    call_id = f"call-{turn}"
    tool_calls: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    if extract_answer(content) is None and "<tool_call>" in content and "</tool_call>" in content:
        raw = content.split("<tool_call>")[1].split("</tool_call>")[0]
        call, bad = parse_tool_call(raw, call_id)
        tool_calls = [call] if call else []
        invalid = [bad] if bad else []
    return AIMessage(
        content=content, tool_calls=tool_calls, invalid_tool_calls=invalid, id=f"ai-{turn}"
    )


def thought(message: AIMessage) -> str:
    """The <think> part of a turn, for timelines."""
    text = str(message.content)
    if "<think>" in text and "</think>" in text:
        return text.split("<think>")[1].split("</think>")[0].strip()
    if "</think>" in text:
        return text.split("</think>")[0].strip()
    return ""


def replace_content(message: AnyMessage, text: str) -> AnyMessage:
    """The reference overwrites the last message's content; a tool response becomes plain user
    text (its <tool_response> wrapper is part of the overwritten content)."""
    if isinstance(message, AIMessage):
        return AIMessage(content=text, id=message.id)
    return HumanMessage(content=text, id=message.id)


def parse_completion(completion: Completion, turn: int, question: str) -> AIMessage:
    """`parse` of the completion's text with its reasoning put back inline."""
    return parse(with_reasoning(completion.reasoning, completion.text), turn)


DIALECT = Dialect(
    name=NAME,
    render=render,
    parse=parse_completion,
    stop=prompts.STOP_SEQUENCES,
    overwrites_last=True,
)
