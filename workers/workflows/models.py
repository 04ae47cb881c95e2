"""Versioned workflow input, output and progress models (what crosses the client boundary)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from activities.schedules import Comparison
from graphs.budget import Budget, OnBudget, Prices, Spent
from graphs.plan import Plan
from graphs.state import ResearchLimits, Sampling
from graphs.strategies import strategy
from workers.workflows.options import ActivityPolicy
from workers.workflows.webhooks import Sent, WebhookSpec


class HistoryBudget(BaseModel):
    """Past either bound a session continues as new, carrying its state."""

    events: int = Field(10_000, ge=100)
    bytes: int = Field(20 * 1024 * 1024, ge=64 * 1024)


class FollowUp(BaseModel):
    """What a follow-up starts from: the earlier session's conversation (as its last model
    call saw it, and that call's reply), its ledger and its pages (URL -> blob digest)."""

    of: str = Field(description="The earlier session's id.")
    messages: list[dict[str, Any]] = Field(default_factory=list)
    ledger: list[dict[str, Any]] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    pages: dict[str, str] = Field(default_factory=dict)


class ForkFrom(BaseModel):
    """What a fork starts from (`deepresearch fork`): the original session, the step it goes
    on after, the graph state the original's next model call started from there, and the pages
    read by then (URL -> blob digest, not fetched again); the changes asked for."""

    of: str = Field(description="The original session's id.")
    step: int = Field(ge=1, description="The last step taken over from it.")
    state: dict[str, Any] = Field(default_factory=dict)
    pages: dict[str, str] = Field(default_factory=dict)
    model: str | None = Field(None, description="The model name its own turns ask for.")
    question: str | None = Field(None, description="A new question in place of the original's.")


class TapeRef(BaseModel):
    """A replay evaluation's tape (`eval --replay-from`): the blob of an earlier run's
    observations by request, and what a request it lacks does (fail the session, or go live)."""

    blob: str
    on_miss: Literal["fail", "live"] = "fail"


class ScheduleLink(BaseModel):
    """A scheduled run's schedule, and when its webhook speaks (`changed`: only when the run
    differs from the one before; `always`: every run)."""

    id: str
    notify: Literal["changed", "always"] = "changed"


class ResearchInput(BaseModel):
    """Input of ResearchWorkflow; `version` lets later code read older histories."""

    version: int = 1
    question: str
    limits: ResearchLimits = Field(default_factory=ResearchLimits)
    sampling: Sampling = Field(default_factory=Sampling)
    files: dict[str, str] = Field(
        default_factory=dict, description="Uploaded file name -> blob digest (`ask --file`)."
    )
    model: str = Field("", description="Model name, for display and search (not a secret).")
    protocol: Literal["tongyi", "openai"] = Field("tongyi", description="The model dialect.")
    strategy: Literal["react", "iterative"] = Field(
        "react",
        description="react: the model sees the whole conversation; iterative (IterResearch): a "
        "workspace rebuilt each round from the question, its report and the last action.",
    )
    indexed: bool = Field(False, description="Set the custom search attributes (registered).")
    tenant: str = Field("default", description="Whose session (DEEPRESEARCH_API_KEYS tenants).")
    budget: Budget = Field(default_factory=Budget, description="What it may spend.")
    on_budget: OnBudget = Field(
        "answer",
        description="answer: the best answer now, termination `budget`; pause: wait for a top-up.",
    )
    prices: Prices = Field(default_factory=Prices, description="Its model's prices (USD).")
    webhook: WebhookSpec | None = Field(
        None, description="Where it announces its end (and waits), Standard Webhooks signed."
    )
    plan: bool = Field(
        False, description="Draft a research plan first and wait for its approval (`--plan`)."
    )
    plan_wait_seconds: float = Field(
        24 * 3600, gt=0, description="How long it waits for the approval (then its own plan)."
    )
    follow_up: FollowUp | None = Field(
        None, description="`ask --follow-up ID`: the earlier session it goes on from."
    )
    schedule: ScheduleLink | None = Field(
        None, description="A run of `deepresearch schedule`: it compares itself with the last."
    )
    fork: ForkFrom | None = Field(
        None, description="`deepresearch fork`: the session and step it goes on from."
    )
    tape: TapeRef | None = Field(
        None, description="`eval --replay-from`: its web tools answer from an earlier run."
    )
    tenant_watch_seconds: float = Field(
        0,
        ge=0,
        description="How often it asks whether its tenant's day or month budget is spent "
        "(pausing while it is); 0: never (the tenant has no such bound).",
    )
    history: HistoryBudget = Field(default_factory=HistoryBudget)
    activities: ActivityPolicy = Field(
        default_factory=ActivityPolicy, description="For the workflow's own activities."
    )
    report: bool = Field(False, description="Also write a long-form report with citations.")
    cache: bool = Field(
        True,
        description="Serve searches and pages from the research cache while fresh (`ask "
        "--no-cache`: False; what the session fetches still refreshes the cache).",
    )
    return_trajectory: bool = Field(
        False, description="Put the final conversation in the report (Heavy mode's branches)."
    )
    continued: bool = Field(False, description="This run continues the previous one (as new).")
    control: dict[str, Any] | None = Field(None, description="Operator input carried over.")
    resume_state: dict[str, Any] | None = Field(
        None, description="Graph state to continue from (`deepresearch resume`); None: start."
    )
    resumed_from: str | None = Field(
        None, description="`resume`: the run id of the stopped run (its history is the start)."
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_heartbeat(cls, data: Any) -> Any:
        return legacy_heartbeat(data)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the question is empty")
        return value.strip()

    @model_validator(mode="after")
    def _strategy_fits_dialect(self) -> ResearchInput:
        if not strategy(self.strategy).supports(self.protocol):
            raise ValueError(
                "the iterative strategy needs the tongyi dialect (DEEPRESEARCH_PROTOCOL)"
            )
        return self


def legacy_heartbeat(data: Any) -> Any:
    """Inputs recorded before `activities` carried a bare `heartbeat_seconds`."""
    if isinstance(data, dict) and "heartbeat_seconds" in data and "activities" not in data:
        data = {**data, "activities": {"heartbeat_seconds": data["heartbeat_seconds"]}}
        del data["heartbeat_seconds"]
    return data


def first_message(question: str, files: dict[str, str]) -> str:
    """The user turn the model sees: the reference's datasets prefix uploaded file names."""
    if not files:
        return question
    return f"(Uploaded {len(files)} file: {list(files)!r})\n\n{question}"


class ResearchReport(BaseModel):
    """Output of ResearchWorkflow."""

    version: int = 1
    session_id: str
    question: str
    answer: str
    termination: str
    sources: list[str] = Field(default_factory=list)
    llm_calls: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    spent: Spent = Field(default_factory=Spent)
    budget: Budget = Field(default_factory=Budget)
    started_at: str
    finished_at: str
    elapsed_seconds: float
    trajectory: list[dict[str, Any]] | None = None  # rendered as the model saw it, on request
    ledger: list[dict[str, Any]] | None = None  # the sources read, with the trajectory
    # the conversation from the last model turn on, as it ended (`export`'s record)
    tail: list[dict[str, str]] | None = None
    plan: Plan | None = None  # `ask --plan`: the plan it researched with (or why not)
    follow_up_of: str | None = None  # `ask --follow-up`: the earlier session
    forked_from: str | None = None  # `fork`: the original session
    forked_at_step: int | None = None  # `fork`: its steps 1..N are the original's
    schedule_id: str | None = None  # a scheduled run's schedule
    comparison: Comparison | None = None  # a scheduled run against the run before it
    report_markdown: str | None = None  # `ask --report`: grounded in the pages read
    report_warnings: list[str] = Field(default_factory=list)


class Progress(BaseModel):
    """Answer of the `progress` query."""

    step: int = 0
    node: str = "starting"
    last_action: str = ""
    llm_calls: int = 0
    tool_calls: int = 0
    tokens: int = 0
    sources: int = 0
    elapsed_seconds: float = 0.0
    done: bool = False
    cancelling: str | None = None
    spent: Spent = Field(default_factory=Spent)
    budget: Budget = Field(default_factory=Budget)
    awaiting_budget: str | None = Field(
        None,
        description="The bound that ran out while the session waits for a top-up (`tenant`: "
        "its tenant's day or month budget, see `held`).",
    )
    held: str | None = Field(
        None, description="Why its tenant's day or month budget holds it (None: it does not)."
    )
    webhooks: list[Sent] = Field(
        default_factory=list, description="The webhook messages it sent (delivery ids)."
    )
    plan: Plan | None = Field(
        None, description="`--plan`: the drafted plan, its questions, and what was decided."
    )
    started_at: str | None = None  # so a client's clock ticks between workflow tasks
    running: list[str] = Field(
        default_factory=list, description="Nodes in flight (the client adds them)."
    )
