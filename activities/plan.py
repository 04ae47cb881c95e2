"""`ask --plan`: the one planning call a session sends before it researches (the research
model, our PLANNER_PROMPT); the reply is read by graphs/plan.py."""

from __future__ import annotations

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import current
from activities.llm import chat
from graphs import prompts
from graphs.plan import parse_plan
from graphs.state import Sampling

PLANNER_SAMPLING = Sampling(temperature=0.3, max_tokens=2048)


class PlanRequest(BaseModel):
    question: str = Field(description="The first user message (uploaded files named).")


class DraftedPlan(BaseModel):
    plan: str
    questions: list[str] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0


@activity.defn(name="plan.draft")
async def draft_plan(request: PlanRequest) -> DraftedPlan:
    """A reply with no plan in it is retried (a new sample); its tokens count either way."""
    prompt = prompts.PLANNER_PROMPT.format(question=request.question)
    result = await chat(
        current().research_model, [{"role": "user", "content": prompt}], PLANNER_SAMPLING
    )
    plan, questions = parse_plan(result.text)
    if not plan:
        raise ApplicationError("the model wrote no research plan", type="NoPlan")
    return DraftedPlan(
        plan=plan,
        questions=questions,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
    )
