"""A session's research plan (`ask --plan`): the planning reply read, the user's decision, and
the text the plan adds to the session's first user message. Pure: the workflow drafts it with
one activity and waits for the decision on a durable timer."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from graphs import prompts

MAX_QUESTIONS = 3
MAX_PLAN_CHARS = 8_000
MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 2_000
# awaiting_approval: drafted, waiting for the user; approved: as drafted or edited (`edited`);
# proceeded: no reply within the wait, the drafted plan is used; rejected: the session ended;
# skipped: the planning call failed for good, the research went on without a plan.
PlanStatus = Literal["awaiting_approval", "approved", "proceeded", "rejected", "skipped"]

_TAG = r"<{0}>(.*?)(?:</{0}>|\Z)"
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")


class Plan(BaseModel):
    """The plan as the session shows it (`show`, the API, the web page, MCP)."""

    status: PlanStatus = "awaiting_approval"
    plan: str = ""
    questions: list[str] = Field(default_factory=list)
    answers: list[str] = Field(default_factory=list)
    edited: bool = False
    note: str = Field("", description="Why it ended as it did (rejection reason, time-out).")
    wait_seconds: float = Field(0, description="How long it waits for a decision.")


class Approval(BaseModel):
    """A user's decision to go on: the plan edited (None: as drafted) and answers to the
    clarifying questions, in their order."""

    model_config = ConfigDict(extra="forbid")

    plan: str | None = Field(None, max_length=MAX_PLAN_CHARS)
    answers: list[str] = Field(default_factory=list, max_length=MAX_QUESTIONS)


def parse_plan(text: str) -> tuple[str, list[str]]:
    """The plan and the clarifying questions of a planning reply (`<plan>`, `<questions>`);
    a reply without a plan tag is the plan, less its questions. A reasoning block is dropped."""
    text = text.split("</think>")[-1]
    asked = re.search(_TAG.format("questions"), text, re.DOTALL)
    questions: list[str] = []
    if asked is not None:
        for line in asked.group(1).splitlines():
            question = _BULLET.sub("", line).strip()
            if question:
                questions.append(question[:MAX_QUESTION_CHARS])
        text = text[: asked.start()] + text[asked.end() :]
    found = re.search(_TAG.format("plan"), text, re.DOTALL)
    plan = (found.group(1) if found is not None else text).strip()
    return plan[:MAX_PLAN_CHARS], questions[:MAX_QUESTIONS]


class NotWaiting(ValueError):
    """A decision for a session that is not waiting for one (a conflict, not a bad request)."""


def check_waiting(plan: Plan) -> None:
    """Raise NotWaiting unless the plan still waits for a decision."""
    if plan.status != "awaiting_approval":
        raise NotWaiting(
            f"the session is not waiting for a plan approval (its plan is {plan.status})"
        )


def check_approval(plan: Plan, approval: Approval) -> None:
    """Raise ValueError (one line, the caller's) for a decision the plan cannot take."""
    check_waiting(plan)
    if approval.plan is not None and not approval.plan.strip():
        raise ValueError("the edited plan is empty (leave it out to keep the drafted plan)")
    if len(approval.answers) > len(plan.questions):
        raise ValueError(
            f"{len(approval.answers)} answers for {len(plan.questions)} clarifying question(s)"
        )
    for answer in approval.answers:
        if len(answer) > MAX_ANSWER_CHARS:
            raise ValueError(f"an answer is longer than {MAX_ANSWER_CHARS} characters")


def approved(plan: Plan, approval: Approval) -> Plan:
    """The plan after the user's approval (checked by `check_approval`)."""
    edited = approval.plan is not None and approval.plan.strip() != plan.plan
    return plan.model_copy(
        update={
            "status": "approved",
            "plan": approval.plan.strip() if approval.plan is not None else plan.plan,
            "answers": [answer.strip() for answer in approval.answers],
            "edited": edited,
        }
    )


def plan_note(plan: Plan) -> str:
    """What the plan adds after the question in the first user message: its header, the plan,
    then each clarifying question with the user's answer. Nothing unless the research runs
    with it (approved, or proceeded after the wait)."""
    if plan.status not in ("approved", "proceeded") or not plan.plan:
        return ""
    if plan.status == "proceeded":
        header = prompts.PLAN_UNREVIEWED
    else:
        header = prompts.PLAN_EDITED if plan.edited else prompts.PLAN_APPROVED
    parts = [f"{header}\n{plan.plan}"]
    if plan.questions:
        answers = plan.answers + [""] * (len(plan.questions) - len(plan.answers))
        pairs = [
            prompts.PLAN_QUESTION.format(question=q, answer=a or prompts.PLAN_NO_ANSWER)
            for q, a in zip(plan.questions, answers, strict=True)
        ]
        parts.append(prompts.PLAN_ANSWERS + "\n" + "\n".join(pairs))
    return "\n\n".join(parts)


def with_plan(first: str, plan: Plan) -> str:
    """The first user message with the plan's note after it (unchanged without one)."""
    note = plan_note(plan)
    return f"{first}\n\n{note}" if note else first
