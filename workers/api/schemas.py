"""The HTTP API's request and response bodies, and their translation to the session layer's
`AskOptions` (the only place a request becomes options)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graphs.budget import Budget, OnBudget, Spent
from graphs.plan import Plan
from workers.client import AskOptions, InvalidRequest
from workers.client.inputs import MAX_LLM_CALLS, ForkChanges, ForkOptions, WebhookRequest, one_line

SESSION_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class Limits(BaseModel):
    """Per-session limits a caller may set: they only lower the deployment's
    DEEPRESEARCH_MAX_* (a larger value gets the deployment's)."""

    model_config = ConfigDict(extra="forbid")

    max_llm_calls: int | None = Field(
        None, ge=1, le=MAX_LLM_CALLS, description="Model-call budget (at most the deployment's)."
    )


class SessionRequest(BaseModel):
    """A new session (`ask`'s options). The same `id` again attaches to that session."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="What to research.")
    id: str | None = Field(
        None, pattern=SESSION_ID, description="Session id (generated when absent)."
    )
    mode: Literal["react", "heavy"] = Field("react", description="One loop, or Heavy mode.")
    branches: int = Field(3, ge=1, le=16, description="Heavy mode's parallel branches.")
    synthesis: Literal["select", "fuse"] = Field("select", description="Heavy mode's synthesis.")
    strategy: str | list[str] = Field(
        "react",
        description="react or iterative; Heavy mode: a list (or comma list) cycled over branches.",
    )
    report: bool = Field(False, description="Also write a long-form report with citations.")
    limits: Limits = Field(default_factory=Limits)
    budget: Budget = Field(
        default_factory=Budget,
        description="What it may spend: tokens, usd, searches, pages (each optional; the "
        "tenant's DEEPRESEARCH_TENANT_BUDGETS session bound is the default and the ceiling).",
    )
    on_budget: OnBudget | None = Field(
        None, description="answer: the best answer now (default); pause: wait for a top-up."
    )
    webhook: WebhookRequest | None = Field(
        None,
        description="Announce its events (completed, failed, cancelled, awaiting_approval, "
        "awaiting_budget) to this URL, signed as Standard Webhooks say; "
        "DEEPRESEARCH_WEBHOOK_URL is the default.",
    )
    follow_up_of: str | None = Field(
        None,
        pattern=SESSION_ID,
        description="A completed session of yours this one goes on from: its conversation and "
        "the pages it read (not fetched again).",
    )
    plan: bool = Field(
        False,
        description="Draft a research plan first and wait (awaiting_approval) for "
        "POST /v1/sessions/{id}/approve or /reject; after DEEPRESEARCH_PLAN_WAIT it goes on "
        "with its own plan.",
    )
    cache: bool = Field(
        True,
        description="Serve searches and pages from the research cache while fresh "
        "(DEEPRESEARCH_CACHE_TTL); false fetches everything again (and refreshes the cache).",
    )

    def options(self, tenant: str) -> AskOptions:
        names = self.strategy.split(",") if isinstance(self.strategy, str) else self.strategy
        try:
            return AskOptions(
                question=self.question,
                mode=self.mode,
                branches=self.branches,
                synthesis=self.synthesis,
                strategies=[name.strip() for name in names],  # type: ignore[misc]
                report=self.report,
                max_llm_calls=self.limits.max_llm_calls,
                tenant=tenant,
                budget=self.budget,
                on_budget=self.on_budget,
                webhook=self.webhook,
                plan=self.plan,
                follow_up_of=self.follow_up_of,
                cache=self.cache,
            )
        except ValidationError as error:
            raise InvalidRequest(one_line(error)) from None


def from_form(fields: dict[str, str]) -> SessionRequest:
    """A multipart request's fields as a SessionRequest (`limits` is a JSON object)."""
    data: dict[str, Any] = {key: value for key, value in fields.items() if value != ""}
    for name, example in (
        ("limits", '{"max_llm_calls": 20}'),
        ("budget", '{"searches": 10}'),
        ("webhook", '{"url": "https://hooks.example/dr"}'),
    ):
        if name in data:
            try:
                data[name] = json.loads(data[name])
            except ValueError:
                raise InvalidRequest(f"{name}: give a JSON object such as {example}") from None
    for flag in ("report", "plan"):
        if flag in data:
            data[flag] = data[flag].lower() in ("1", "true", "on", "yes")
    try:
        return SessionRequest.model_validate(data)
    except ValidationError as error:
        raise InvalidRequest(one_line(error)) from None


class StartedOut(BaseModel):
    id: str
    status: Literal["started", "running", "completed", "stopped"] = Field(
        description="started: a new session; running/completed/stopped: that id's existing "
        "session (stopped: failed, terminated or timed out; resume continues it)."
    )
    heavy: bool = False


class ForkRequest(ForkChanges):
    """`POST /v1/sessions/{id}/fork`: what changes from step `at_step` + 1 on (a Heavy
    session: its synthesis); the fork is the caller's tenant's."""

    id: str | None = Field(None, description="The fork's session id (default: a new one).")

    def options(self, tenant: str) -> ForkOptions:
        return ForkOptions(**self.model_dump(exclude={"id"}), tenant=tenant)


class ForkedOut(BaseModel):
    id: str
    status: Literal["started"] = "started"
    forked_from: str
    at_step: int | None = None
    heavy: bool = False
    live_from: int | None = Field(
        None, description="Its first step run live (the steps before: the original's)."
    )


class ResumedOut(BaseModel):
    id: str
    status: Literal["started"] = "started"
    resumed_at: int | None = Field(None, description="The model call it continues from.")


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", description="Why (kept in the session's history).")


class SteerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(description="A note for the model, seen before its next turn.")


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=2000, description="Why (kept in the session's history).")


class PlanOut(BaseModel):
    id: str
    plan: Plan = Field(description="The session's plan after the decision.")


class TopUp(Budget):
    """What to add to a running session's budget (only bounds it already has)."""


class BudgetOut(BaseModel):
    id: str
    budget: Budget = Field(description="The session's budget after the top-up.")


class UsageRowOut(BaseModel):
    tenant: str
    model: str
    sessions: int
    spent: Spent


class UsageOut(BaseModel):
    since: str
    usage: list[UsageRowOut]


class Accepted(BaseModel):
    id: str
    status: str = Field(description="cancelling, or steered.")


class ErrorOut(BaseModel):
    error: str = Field(description="What went wrong, in one sentence.")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    temporal: Literal["reachable", "unreachable"]
    worker: bool = Field(description="Whether this process hosts a research worker.")
