"""The shape every model dialect has, so callers dispatch through the registry instead of
testing the protocol's name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage


@dataclass(frozen=True)
class Completion:
    """What a model call returned, as a dialect parses it: the text, the reasoning a server
    returned apart (vLLM's reasoning parser, OpenRouter) and native tool calls (id, name,
    arguments as JSON text)."""

    text: str
    reasoning: str = ""
    tool_calls: Sequence[dict[str, str]] = ()


@dataclass(frozen=True)
class Dialect:
    """One way of talking to a model: how the conversation is rendered, what a call sends
    besides it, how the completion becomes actions, and how a limit notice is given."""

    name: str
    # (messages, today) -> the chat messages of the request.
    render: Callable[[list[AnyMessage], str], list[dict[str, Any]]]
    # (completion, turn, question) -> the turn's AIMessage; the question is the goal of reads.
    parse: Callable[[Completion, int, str], AIMessage]
    stop: tuple[str, ...] = ()  # stop sequences of every call
    tools: list[dict[str, Any]] = field(default_factory=list)  # native schemas; [] = none sent
    # A limit notice overwrites the last message (the reference's way, which the Tongyi model
    # was trained on) instead of being appended (native tool calling needs every call answered).
    overwrites_last: bool = False
