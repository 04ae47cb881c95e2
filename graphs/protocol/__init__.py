"""Model dialects: render internal messages into a prompt, parse a completion into actions.

Callers pick a dialect by the session's protocol name through `DIALECTS` / `dialect_of`, and
use its fields (`render`, `parse`, `stop`, `tools`, `overwrites_last`) instead of testing the
name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage

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
    "dialect",
    "dialect_of",
    "openai_tools",
    "tongyi",
]
