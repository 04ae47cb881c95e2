"""Heavy mode: parallel branches as child sessions, reports, an integrator's final answer."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Stack
from tests.fakes.model import message_text
from tests.workflow.test_session import QUESTION, call


def route(body: dict[str, Any]) -> str | None:
    """Branches share the question; tell them apart by their sampling temperature."""
    first = next(message_text(m) for m in body["messages"] if m["role"] == "user")
    if "distill this trajectory" in first:
        return "report"
    if "Multiple independent teams" in first or "combine the trustworthy findings" in first:
        return "integrate"
    return {0.6: "b0", 0.8: "b1", 1.0: "b2"}.get(round(body["temperature"], 2))


def test_heavy_mode_integrates_the_branches_that_answered(stack: Stack) -> None:
    stack.model.script_key = route
    stack.model.scripts.update(
        {
            "b0": [
                call("search", {"query": ["turing award 2024"]}),
                "<think>found</think>\n<answer>Barto and Sutton</answer>",
            ],
            "b1": ["<think>guess</think>\n<answer>Geoffrey Hinton</answer>"],
            # no "b2" script: that branch's model calls fail, the branch is left out
            "report": ["<think>condensing</think>\n<report>## Solution Planning\n...</report>"],
            "integrate": ["<think>weighing</think>\n<answer>Barto and Sutton</answer>"],
        }
    )
    result = stack.cli(
        "ask", QUESTION, "--json", "--id", "s-heavy", "--mode", "heavy", "--branches", "3",
        DEEPRESEARCH_MODEL_ATTEMPTS="1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["answer"] == "Barto and Sutton" and report["termination"] == "answer"
    assert report["tool_calls"] == 1

    requests = stack.model.research_requests()
    reports = [r for r in requests if route(r.body) == "report"]
    assert len(reports) == 2  # the two branches that answered
    trajectories = [message_text(r.body["messages"][1]) for r in reports]
    assert any("A Google search for 'turing award 2024'" in t for t in trajectories)
    assert any("*Answer:* Geoffrey Hinton" in t for t in trajectories)
    (integration,) = [r for r in requests if route(r.body) == "integrate"]
    prompt = message_text(integration.body["messages"][1])
    assert prompt.startswith(f"You are tasked with solving the question: {QUESTION}.")
    assert "[Report 1]: ## Solution Planning" in prompt and "[Report 2]:" in prompt
    assert "[Report 3]" not in prompt
    branches = sorted(r.body["temperature"] for r in requests if route(r.body) in ("b0", "b1"))
    assert branches == [0.6, 0.6, 0.8]  # b0 made two turns, b1 one

    shown = json.loads(stack.cli("show", "s-heavy-b0", "--json").stdout)
    assert shown["status"] == "completed"  # each branch is a session of its own


def test_heavy_mode_fails_clearly_when_no_branch_answers(stack: Stack) -> None:
    stack.model.script_key = route  # no branch scripts at all: every branch fails
    result = stack.cli(
        "ask", QUESTION, "--mode", "heavy", "--branches", "2", DEEPRESEARCH_MODEL_ATTEMPTS="1"
    )
    assert result.returncode == 1
    assert "none of the 2 branches found an answer" in result.stderr
    assert "Traceback" not in result.stderr


def test_fuse_synthesis_uses_its_own_prompt(stack: Stack) -> None:
    stack.model.script_key = route
    stack.model.scripts.update(
        {
            "b0": ["<answer>Barto</answer>"],
            "report": ["<report>r</report>"],
            "integrate": ["<answer>Barto and Sutton</answer>"],
        }
    )
    result = stack.cli(
        "ask", QUESTION, "--json", "--mode", "heavy", "--branches", "1", "--synthesis", "fuse"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"] == "Barto and Sutton"
    (integration,) = [r for r in stack.model.research_requests() if route(r.body) == "integrate"]
    assert "combine the trustworthy findings" in message_text(integration.body["messages"][1])
