"""The dialect and strategy registries: what callers dispatch through instead of names."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from graphs import iterative, prompts
from graphs.protocol import DIALECTS, Completion, dialect, dialect_of, openai_tools, tongyi
from graphs.strategies import ITERATIVE, REACT, STRATEGIES, model_state, strategy, strategy_of

TODAY = "2026-01-02"


def test_dialects_by_name_with_their_request_parts() -> None:
    assert sorted(DIALECTS) == ["openai", "tongyi"]
    assert dialect_of({}) is DIALECTS["tongyi"] is tongyi.DIALECT
    assert dialect_of({"protocol": "openai"}) is openai_tools.DIALECT
    assert tongyi.DIALECT.stop == prompts.STOP_SEQUENCES and tongyi.DIALECT.tools == []
    assert openai_tools.DIALECT.stop == () and openai_tools.DIALECT.tools == openai_tools.TOOLS
    assert tongyi.DIALECT.overwrites_last and not openai_tools.DIALECT.overwrites_last


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'klingon'.*\['openai', 'tongyi'\]"):
        dialect("klingon")
    with pytest.raises(ValueError, match=r"'greedy'.*\['iterative', 'react'\]"):
        strategy("greedy")


def test_tongyi_parse_puts_separate_reasoning_back_inline() -> None:
    completion = Completion("<answer>42</answer>", reasoning="because")
    message = tongyi.DIALECT.parse(completion, 1, "q")
    assert message.content == "<think>\nbecause\n</think><answer>42</answer>"


def test_openai_parse_reads_native_calls_with_the_question_as_goal() -> None:
    call = {"id": "c1", "name": "read_page", "arguments": '{"url": "https://a.example/"}'}
    message = openai_tools.DIALECT.parse(Completion("", tool_calls=[call]), 3, "the question")
    assert message.tool_calls[0]["args"] == {"url": ["https://a.example/"], "goal": "the question"}


def test_strategies_by_name_match_the_old_name_list() -> None:
    assert set(STRATEGIES) == {"react", iterative.NAME}
    assert strategy_of({}) is REACT and strategy_of({"strategy": "iterative"}) is ITERATIVE
    assert ITERATIVE.supports("tongyi") and not ITERATIVE.supports("openai")
    assert REACT.supports("openai")


def test_react_renders_through_the_dialect_and_adds_nothing() -> None:
    messages = [HumanMessage(content="Q", id="q")]
    state = {"today": TODAY, "messages": messages}
    assert REACT.render(messages, state, tongyi.DIALECT) == tongyi.render(messages, TODAY)
    assert REACT.after_turn(tongyi.parse("<answer>a</answer>", 1), state) == {}
    assert model_state(state) is state
    assert REACT.fusion_messages(messages, state) is messages


def test_iterative_carries_the_report_forward() -> None:
    state = {"strategy": "iterative", "workspace_report": "old"}
    turn = tongyi.parse("<think>t</think><report>new</report><answer>a</answer>", 2)
    assert ITERATIVE.after_turn(turn, state) == {"workspace_report": "new"}
    assert ITERATIVE.after_turn(tongyi.parse("<answer>a</answer>", 3), state) == {
        "workspace_report": "old"
    }
