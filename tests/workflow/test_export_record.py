"""`export` writes what the reference's `_run` returns for the same conversation, whatever
ended the session: the records are training and evaluation data."""

from __future__ import annotations

import json

from graphs import prompts
from tests.conftest import Stack
from tests.workflow.test_session import QUESTION, ask_json, call


def exported(stack: Stack, session_id: str) -> dict[str, object]:
    result = stack.cli("export", session_id)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_llm_call_limit_after_a_tool_call(stack: Stack) -> None:
    """The reference runs the last call's tool, then overwrites its response with the notice."""
    turn = call("search", {"query": ["turing award"]})
    stack.script(QUESTION, [turn])
    report = ask_json(stack, "--id", "x-limit", DEEPRESEARCH_MAX_LLM_CALLS="1")
    assert report["termination"] == prompts.TERMINATION_LLM_LIMIT
    record = exported(stack, "x-limit")
    sent = stack.model.research_requests()[-1].body["messages"]
    assert record["messages"] == [
        *sent,
        {"role": "assistant", "content": turn},
        {"role": "user", "content": prompts.LLM_CALL_LIMIT_MESSAGE},
    ]
    assert record["prediction"] == prompts.NO_ANSWER_FOUND


def test_llm_call_limit_after_a_bare_thought(stack: Stack) -> None:
    """Without a tool call the notice overwrites the model's own last turn."""
    stack.script(QUESTION, ["<think>still thinking</think>"])
    ask_json(stack, "--id", "x-thought", DEEPRESEARCH_MAX_LLM_CALLS="1")
    record = exported(stack, "x-thought")
    sent = stack.model.research_requests()[-1].body["messages"]
    assert record["messages"] == [
        *sent,
        {"role": "assistant", "content": prompts.LLM_CALL_LIMIT_MESSAGE},
    ]


def test_wall_clock_keeps_the_last_tool_response(stack: Stack) -> None:
    """The reference stops at the top of the next round: the last tool response is in."""
    turn = call("search", {"query": ["turing award"]})
    stack.script(QUESTION, [turn])
    report = ask_json(stack, "--id", "x-clock", DEEPRESEARCH_WALL_CLOCK_MINUTES="0.0001")
    assert report["termination"].startswith("No answer found after")
    record = exported(stack, "x-clock")
    sent = stack.model.research_requests()[-1].body["messages"]
    assert record["messages"][: len(sent) + 1] == [*sent, {"role": "assistant", "content": turn}]
    (response,) = record["messages"][len(sent) + 1 :]
    assert response["role"] == "user"
    assert response["content"].startswith("<tool_response>\n")
    assert response["content"].endswith("\n</tool_response>")
    assert record["termination"] == record["prediction"] == report["termination"]
