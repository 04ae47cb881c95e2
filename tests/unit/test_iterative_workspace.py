"""The iterative-workspace strategy: what a round shows the model and what it carries forward."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from graphs import iterative, prompts, strategies
from graphs.protocol import tongyi

QUESTION = "Who won the 2024 Turing Award?"
ROUND = (
    "<think>I should search.</think>\n<report>Nothing found yet; check the ACM site.</report>\n"
    '<tool_call>\n{"name": "search", "arguments": {"query": ["turing 2024"]}}\n</tool_call>'
)


def conversation() -> list:
    return [
        HumanMessage(content=QUESTION, id="question"),
        AIMessage(content="<think>old</think>\n<report>r1</report>\n<tool_call>old</tool_call>"),
        ToolMessage(content="old results", tool_call_id="call-1"),
        tongyi.parse(ROUND, 2),
        ToolMessage(content="ACM: Barto and Sutton", tool_call_id="call-2"),
    ]


def test_a_round_keeps_its_report_and_action_but_not_its_thinking() -> None:
    assert iterative.extract_report(ROUND) == "Nothing found yet; check the ACM site."
    assert iterative.extract_report("<think>x</think><answer>y</answer>") is None
    assert iterative.action_text(ROUND).startswith("<tool_call>\n{")
    assert "think" not in iterative.action_text(ROUND)
    assert iterative.next_report(ROUND, "older") == "Nothing found yet; check the ACM site."
    assert iterative.next_report("<answer>y</answer>", "older") == "older"


def test_first_round_workspace() -> None:
    state = {"question": QUESTION, "today": "2026-11-28", "llm_calls": 0, "strategy": "iterative"}
    system, user = iterative.render([HumanMessage(content=QUESTION, id="question")], state)
    assert system == {"role": "system", "content": prompts.SYSTEM_PROMPT + "2026-11-28"}
    assert user["role"] == "user" and user["content"].startswith(QUESTION + "\n\n")
    assert "<report>\n(empty)\n</report>" in user["content"]
    assert prompts.ITERATIVE_FIRST_ROUND in user["content"]
    assert "Round 1: think" in user["content"]


def test_later_rounds_see_only_the_last_action_and_its_result() -> None:
    state = {
        "question": QUESTION,
        "today": "2026-11-28",
        "llm_calls": 2,
        "strategy": "iterative",
        "messages": conversation(),
        "workspace_report": "Nothing found yet; check the ACM site.",
    }
    trimmed = strategies.model_state(state)
    assert [m.content for m in trimmed["messages"]][0] == QUESTION
    assert len(trimmed["messages"]) == 3  # the question, the last turn, its tool response
    _, user = iterative.render(trimmed["messages"], trimmed)
    text = user["content"]
    assert "<report>\nNothing found yet; check the ACM site.\n</report>" in text
    assert '<last_action>\n<tool_call>\n{"name": "search"' in text
    assert "<tool_response>\nACM: Barto and Sutton\n</tool_response>" in text
    assert "old results" not in text and "I should search" not in text and "r1" not in text
    assert "Round 3: think" in text


def test_react_sessions_are_sent_whole() -> None:
    state = {"strategy": "react", "messages": conversation()}
    assert strategies.model_state(state) is state


def test_the_workspace_is_capped() -> None:
    huge = "x" * (iterative.OBSERVATION_TOKENS * 3 * 2)
    state = {
        "question": QUESTION,
        "llm_calls": 1,
        "strategy": "iterative",
        "workspace_report": "y" * (iterative.REPORT_TOKENS * 3 * 2),
    }
    messages = [
        HumanMessage(content=QUESTION, id="question"),
        tongyi.parse(ROUND, 1),
        ToolMessage(content=huge, tool_call_id="call-1"),
    ]
    _, user = iterative.render(messages, state)
    limit = (iterative.OBSERVATION_TOKENS + iterative.REPORT_TOKENS) * 3 + 4_000
    assert len(user["content"]) < limit


def test_fusion_keeps_the_last_rounds() -> None:
    messages = conversation()
    assert iterative.fusion_messages(messages, "") == messages  # fewer rounds than the window
    many = [messages[0]]
    for turn in range(1, 8):
        many += [
            AIMessage(content=f"turn {turn}"),
            ToolMessage(content="r", tool_call_id=str(turn)),
        ]
    fused = iterative.fusion_messages(many, "Fact A (http://a.example).")
    assert fused[0].content == QUESTION
    assert fused[1].content.endswith(
        "carries the findings of every round:\nFact A (http://a.example)."
    )
    assert [m.content for m in fused if isinstance(m, AIMessage)] == ["turn 5", "turn 6", "turn 7"]
