"""Research strategies: how each turn sees the research so far. `react` replays the whole
conversation (the reference's loop); `iterative` (IterResearch) rebuilds a bounded workspace
each round. Callers dispatch through `STRATEGIES` / `strategy_of` instead of testing the name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage

from graphs import iterative
from graphs.protocol import Dialect

DEFAULT_STRATEGY = "react"


@dataclass(frozen=True)
class Strategy:
    """What a strategy decides about a model call and about what Heavy mode's reports read."""

    name: str
    # The part of the state a model call needs (the think activity's input).
    model_state: Callable[[dict[str, Any]], dict[str, Any]]
    # (messages, state, dialect) -> the chat messages of the request.
    render: Callable[[list[AnyMessage], dict[str, Any], Dialect], list[dict[str, Any]]]
    # (the turn's message, state) -> what the turn adds to the state besides the message.
    after_turn: Callable[[AIMessage, dict[str, Any]], dict[str, Any]]
    # (messages, state) -> the messages a Heavy-mode report condenses.
    fusion_messages: Callable[[list[BaseMessage], dict[str, Any]], list[BaseMessage]]
    dialects: frozenset[str] | None = None  # the dialects it runs with; None: any

    def supports(self, dialect_name: str) -> bool:
        return self.dialects is None or dialect_name in self.dialects


def _react_render(
    messages: list[AnyMessage], state: dict[str, Any], dialect: Dialect
) -> list[dict[str, Any]]:
    return dialect.render(messages, state["today"])


def _iterative_render(
    messages: list[AnyMessage], state: dict[str, Any], dialect: Dialect
) -> list[dict[str, Any]]:
    return iterative.render(messages, state)  # type: ignore[arg-type]


def _iterative_fusion(messages: list[BaseMessage], state: dict[str, Any]) -> list[BaseMessage]:
    return iterative.fusion_messages(messages, state.get("workspace_report", ""))


REACT = Strategy(
    name=DEFAULT_STRATEGY,
    model_state=lambda state: state,
    render=_react_render,
    after_turn=lambda message, state: {},
    fusion_messages=lambda messages, state: messages,
)
ITERATIVE = Strategy(
    name=iterative.NAME,
    model_state=iterative.workspace_state,
    render=_iterative_render,
    after_turn=iterative.after_turn,
    fusion_messages=_iterative_fusion,
    dialects=frozenset({"tongyi"}),  # its workspace is written in the Tongyi text format
)
STRATEGIES: dict[str, Strategy] = {s.name: s for s in (REACT, ITERATIVE)}


def strategy(name: str) -> Strategy:
    """The strategy called `name`; an unknown name is an error that lists the valid ones."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"Unknown strategy {name!r}; valid: {sorted(STRATEGIES)}") from None


def strategy_of(state: Mapping[str, Any]) -> Strategy:
    """The strategy of a session's state (`strategy`, react when unset)."""
    return strategy(state.get("strategy") or DEFAULT_STRATEGY)


def model_state(state: dict[str, Any]) -> dict[str, Any]:
    """What the session's next model call needs of its state."""
    return strategy_of(state).model_state(state)


__all__ = [
    "DEFAULT_STRATEGY",
    "ITERATIVE",
    "REACT",
    "STRATEGIES",
    "Strategy",
    "model_state",
    "strategy",
    "strategy_of",
]
