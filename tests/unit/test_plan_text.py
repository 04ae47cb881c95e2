"""The research plan's pure parts: reading a planning reply, the decisions it can take, the
text it adds to the first user message, and the plan-wait duration setting."""

from __future__ import annotations

import pytest

from graphs import prompts
from graphs.plan import (
    MAX_QUESTIONS,
    Approval,
    NotWaiting,
    Plan,
    approved,
    check_approval,
    parse_plan,
    plan_note,
    with_plan,
)
from tests.fakes.model import PLANNER_PREFIX
from workers.config import duration_seconds


def test_the_fakes_know_the_planner_prompt() -> None:
    assert prompts.PLANNER_PROMPT.startswith(PLANNER_PREFIX)
    assert "{question}" in prompts.PLANNER_PROMPT


def test_tags_are_read_and_reasoning_dropped() -> None:
    plan, questions = parse_plan(
        "<think>hmm <plan>not this</plan></think>\n<plan>\n1. One\n2. Two\n</plan>\n"
        "<questions>\n- First?\n* Second?\n3) Third?\n\n4. Fourth?\n</questions>"
    )
    assert plan == "1. One\n2. Two"
    assert questions == ["First?", "Second?", "Third?"][:MAX_QUESTIONS]


def test_a_reply_without_tags_is_the_plan_and_unclosed_tags_run_to_the_end() -> None:
    assert parse_plan("  Just look it up.  ") == ("Just look it up.", [])
    assert parse_plan("Steps first <questions>Which one?") == ("Steps first", ["Which one?"])
    assert parse_plan("<plan>1. Cut off") == ("1. Cut off", [])
    assert parse_plan("<think>only thinking</think>") == ("", [])


def test_a_plan_past_the_cap_is_cut() -> None:
    plan, _ = parse_plan("<plan>" + "x" * 20_000 + "</plan>")
    assert len(plan) == 8_000


def drafted(questions: list[str] | None = None) -> Plan:
    return Plan(plan="1. One", questions=questions or [], wait_seconds=60)


def test_decisions_that_cannot_be_taken_are_one_line() -> None:
    with pytest.raises(ValueError, match="2 answers for 1 clarifying"):
        check_approval(drafted(["Which?"]), Approval(answers=["a", "b"]))
    with pytest.raises(ValueError, match="the edited plan is empty"):
        check_approval(drafted(), Approval(plan="  \n"))
    with pytest.raises(ValueError, match="longer than 2000"):
        check_approval(drafted(["Which?"]), Approval(answers=["x" * 2001]))
    with pytest.raises(NotWaiting, match="its plan is approved"):
        check_approval(drafted().model_copy(update={"status": "approved"}), Approval())
    check_approval(drafted(["Which?"]), Approval(answers=["x" * 2000]))  # at the bound: fine


def test_the_note_by_decision() -> None:
    asked = drafted(["Which year?", "Which prize?"])
    kept = approved(asked, Approval(plan="1. One\n", answers=["2024"]))
    assert not kept.edited and kept.status == "approved"  # the same text is not an edit
    assert plan_note(kept) == (
        f"{prompts.PLAN_APPROVED}\n1. One\n\n{prompts.PLAN_ANSWERS}\n"
        f"Q: Which year?\nA: 2024\nQ: Which prize?\nA: {prompts.PLAN_NO_ANSWER}"
    )
    edited = approved(drafted(), Approval(plan="1. Other"))
    assert edited.edited and plan_note(edited) == f"{prompts.PLAN_EDITED}\n1. Other"
    waited = drafted().model_copy(update={"status": "proceeded"})
    assert plan_note(waited) == f"{prompts.PLAN_UNREVIEWED}\n1. One"
    for status in ("awaiting_approval", "rejected", "skipped"):
        assert with_plan("Q?", drafted().model_copy(update={"status": status})) == "Q?"
    assert with_plan("Q?", edited) == f"Q?\n\n{prompts.PLAN_EDITED}\n1. Other"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800), (" 1.5H ", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "x", "-3", "0", "inf", "nan", "3w", "1e400"])
def test_bad_durations_are_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        duration_seconds(text)
