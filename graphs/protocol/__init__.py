"""Model dialects: render internal messages into a prompt, parse a completion into actions.

Callers pick a dialect by the session's protocol name through `DIALECTS` / `dialect_of`, and
use its fields (`render`, `parse`, `stop`, `tools`, `overwrites_last`) instead of testing the
name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from graphs import prompts
from graphs.protocol import openai_tools, tongyi
from graphs.protocol.dialect import Completion, Dialect

DEFAULT_DIALECT = tongyi.NAME
DIALECTS: dict[str, Dialect] = {d.name: d for d in (tongyi.DIALECT, openai_tools.DIALECT)}


def dialect(name: str) -> Dialect:
    """The dialect called `name`; an unknown name is an error that lists the valid ones."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"Unknown dialect {name!r}; valid: {sorted(DIALECTS)}") from None


def dialect_of(state: Mapping[str, Any]) -> Dialect:
    """The dialect of a session's state (`protocol`, the reference's tongyi when unset)."""
    return dialect(state.get("protocol") or DEFAULT_DIALECT)


def carried_over(messages: list[AnyMessage], to: str) -> list[AnyMessage]:
    """A conversation recorded in one dialect, for a fork that goes on in `to`: each turn as
    text the other dialect can show without its native structures. Into `openai`, a tool
    response becomes the user message the tongyi dialect sends (a `role: tool` message needs
    a native call before it); into `tongyi`, a turn whose calls were native gets them as the
    `<tool_call>` text the model reads."""
    out: list[AnyMessage] = []
    for message in messages:
        if to == openai_tools.NAME and isinstance(message, ToolMessage):
            text = prompts.TOOL_RESPONSE_PREFIX + str(message.content)
            out.append(HumanMessage(content=text + prompts.TOOL_RESPONSE_SUFFIX, id=message.id))
        elif (
            to == tongyi.NAME
            and isinstance(message, AIMessage)
            and message.tool_calls
            and "<tool_call>" not in str(message.content)
        ):
            calls = "".join(
                "\n<tool_call>\n"
                + json.dumps({"name": c["name"], "arguments": c["args"]}, ensure_ascii=False)
                + "\n</tool_call>"
                for c in message.tool_calls
            )
            out.append(message.model_copy(update={"content": str(message.content) + calls}))
        else:
            out.append(message)
    return out


def answer_of(message: AIMessage) -> str | None:
    """The final answer a turn gives, or None: the openai dialect marks it when parsing (a reply
    without tool calls); the tongyi one is the text inside <answer></answer>."""
    if "answer" in message.additional_kwargs:
        return message.additional_kwargs["answer"]
    return tongyi.extract_answer(str(message.content))


__all__ = [
    "DEFAULT_DIALECT",
    "DIALECTS",
    "Completion",
    "Dialect",
    "answer_of",
    "carried_over",
    "dialect",
    "dialect_of",
    "openai_tools",
    "tongyi",
]
