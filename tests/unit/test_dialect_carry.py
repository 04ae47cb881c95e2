"""A fork into another dialect carries the recorded turns over as text that dialect shows."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from graphs import prompts
from graphs.protocol import carried_over, openai_tools, tongyi

CALL = {"name": "search", "args": {"query": ["turing award"]}, "id": "call_1", "type": "tool_call"}


def native_turns() -> list:
    return [
        HumanMessage(content="Who won?", id="question"),
        AIMessage(content="", tool_calls=[CALL], id="a1",
                  additional_kwargs={"openai_tool_calls": [{"id": "call_1", "name": "web_search",
                                                             "arguments": '{"query": "x"}'}]}),
        ToolMessage(content="results", tool_call_id="call_1", id="t1"),
    ]  # fmt: skip


def test_into_tongyi_a_native_call_becomes_its_tool_call_text() -> None:
    rendered = tongyi.render(carried_over(native_turns(), tongyi.NAME), "2026-12-08")
    assistant = rendered[2]["content"]
    body = '{"name": "search", "arguments": {"query": ["turing award"]}}'
    assert assistant == f"\n<tool_call>\n{body}\n</tool_call>"
    assert rendered[3] == {
        "role": "user",
        "content": prompts.TOOL_RESPONSE_PREFIX + "results" + prompts.TOOL_RESPONSE_SUFFIX,
    }


def test_into_openai_a_tool_response_becomes_a_user_message() -> None:
    turns = [
        HumanMessage(content="Who won?", id="question"),
        AIMessage(content="<tool_call>\n{}\n</tool_call>", tool_calls=[CALL], id="a1"),
        ToolMessage(content="results", tool_call_id="call_1", id="t1"),
    ]
    rendered = openai_tools.render(carried_over(turns, openai_tools.NAME), "2026-12-08")
    assert [m["role"] for m in rendered] == ["system", "user", "assistant", "user"]
    assert "tool_calls" not in rendered[2]
    assert rendered[3]["content"].startswith(prompts.TOOL_RESPONSE_PREFIX)


def test_what_the_dialect_shows_already_is_left_alone() -> None:
    question = native_turns()[:1]
    assert carried_over(question, tongyi.NAME) == question
    assert carried_over(question, openai_tools.NAME) == question
