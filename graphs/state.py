"""ResearchState: the state of one research session, its reducers and its typed settings."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.graph import add_messages
from pydantic import BaseModel, Field


class ResearchLimits(BaseModel):
    """Per-session limits; the defaults are the reference agent's."""

    max_llm_calls: int = Field(100, ge=1, description="Model calls before the session stops.")
    max_context_tokens: int = Field(
        110 * 1024, ge=1024, description="Conversation size that triggers the forced answer."
    )
    wall_clock_seconds: float = Field(
        150 * 60, gt=0, description="Time budget; past it the session stops without an answer."
    )
    max_tool_calls_per_step: int = Field(
        20,
        ge=1,
        description="Fan-out cap: queries/URLs of one tool call run beyond it are skipped.",
    )


class Sampling(BaseModel):
    """Sampling parameters for research model calls (the reference's defaults)."""

    temperature: float = 0.6
    top_p: float = 0.95
    presence_penalty: float = 1.1
    max_tokens: int = 10_000
    seed: int | None = None  # Heavy mode gives each branch its own; None: the server's choice


class ToolTask(TypedDict, total=False):
    """One fanned-out unit of tool work: what a tool node receives through `Send`."""

    call_id: str
    index: int
    tool: str
    query: str
    url: str
    goal: str
    blob: str
    code: str
    files: dict[str, str]
    missing: list[str]
    clock: float
    tape: dict[str, str]  # a replay evaluation's tape: {"blob": digest, "on_miss": fail | live}
    cache: dict[str, Any]  # the session's use of the research cache: tenant, read


class Observation(TypedDict, total=False):
    """One tool result, joined with its siblings into the call's tool response by `refine`."""

    call_id: str
    index: int
    text: str
    source: str
    blob: str  # the page a `read` extracted this from
    cached: list[str]  # what came from the research cache (results, page, extraction)
    cached_age_s: float  # and how old it was then (the oldest part); never in `text`


_MESSAGE_TYPES: dict[str, type[BaseMessage]] = {
    "ai": AIMessage,
    "human": HumanMessage,
    "tool": ToolMessage,
    "system": SystemMessage,
}


def to_message(value: BaseMessage | dict[str, Any]) -> BaseMessage:
    """Rebuild a message that crossed an activity boundary as a dict, keeping every field
    (langchain's `convert_to_messages` drops `invalid_tool_calls`)."""
    if isinstance(value, BaseMessage):
        return value
    return _MESSAGE_TYPES[value["type"]].model_validate(value)


def to_messages(values: list[Any]) -> list[BaseMessage]:
    return [to_message(v) for v in values]


def merge_messages(left: list[Any] | None, right: list[Any] | Any) -> list[Any]:
    """`add_messages` (append, replace by id) over faithfully rebuilt messages."""
    right_list = right if isinstance(right, list) else [right]
    return add_messages(to_messages(left or []), to_messages(right_list))


def extend_or_reset(left: list[Any] | None, right: list[Any] | None) -> list[Any]:
    """Append updates; an update of `None` empties the channel (refine consumes it)."""
    if right is None:
        return []
    return [*(left or []), *right]


def add_unique(left: list[str] | None, right: list[str] | None) -> list[str]:
    """Append new items once, keeping first-seen order."""
    out = list(left or [])
    for item in right or []:
        if item not in out:
            out.append(item)
    return out


def add_sources(left: list[dict[str, Any]] | None, right: list[dict[str, Any]] | None) -> list:
    """The ledger of sources read: one entry per URL (the first read), in reading order."""
    out = list(left or [])
    seen = {entry["url"] for entry in out}
    for entry in right or []:
        if entry["url"] not in seen:
            seen.add(entry["url"])
            out.append(entry)
    return out


def latest(left: float | None, right: float | None) -> float:
    """Keep the latest activity-reported clock reading."""
    return max(left or 0.0, right or 0.0)


def total(left: int | None, right: int | None) -> int:
    """Sum counters written by parallel nodes."""
    return (left or 0) + (right or 0)


class Control(TypedDict, total=False):
    """Operator input, written by the workflow's signal handlers while the graph runs and read
    by the graph as its runtime context (signals are in history, so replay sees the same)."""

    cancel: str | None
    steer: list[str]
    checkpoint: bool  # the workflow's history is full: stop before the next turn
    budget: dict[str, Any]  # the session's budget as raised by top-ups (graphs.budget.Budget)
    hold: str | None  # why its tenant's day or month budget holds the session (None: it does not)


class ResearchState(TypedDict, total=False):
    """Graph state. Large texts stay out: pages live in the blob store, state holds digests."""

    question: str
    protocol: str  # the model dialect: tongyi | openai
    strategy: str  # react (the whole conversation each turn) | iterative (a rebuilt workspace)
    workspace_report: str  # the iterative strategy's evolving report, carried between rounds
    files: dict[str, str]  # uploaded file name -> blob digest
    read_in_one: bool  # a visit's page is fetched and extracted in one activity (`read`)
    started: float
    today: str
    deadline: float
    limits: dict[str, Any]
    sampling: dict[str, Any]
    messages: Annotated[list[AnyMessage], merge_messages]
    pending: list[ToolTask]
    observations: Annotated[list[Observation], extend_or_reset]
    pages: Annotated[list[ToolTask], extend_or_reset]
    sources: Annotated[list[str], add_unique]
    ledger: Annotated[list[dict[str, Any]], add_sources]  # url + evidence of every page read
    known_pages: dict[str, str]  # a follow-up's: URL -> blob of the pages read before it
    cache: dict[str, Any]  # the research cache's use: {"tenant", "read"}; absent: no cache
    llm_calls: int
    tool_calls: int
    prompt_tokens: Annotated[int, total]
    completion_tokens: Annotated[int, total]
    estimated_tokens: Annotated[int, total]  # of those, our estimate (no usage from the server)
    searches: int  # search queries sent (budget)
    pages_read: int  # pages read (budget)
    budget: dict[str, Any]  # graphs.budget.Budget; empty: no bound
    on_budget: str  # answer (the forced answer, then `budget`) | pause (wait for a top-up)
    prices: dict[str, Any]  # graphs.budget.Prices of this session's model
    budget_spent: str  # the bound that ran out (answer mode)
    awaiting_budget: str  # the bound that ran out (pause mode); the workflow waits
    resume_at: str  # the node a run enters at after a pause (default: think)
    budget_need: dict[str, int]  # the searches and pages of the turn paused before its calls
    context_tokens: int
    clock: Annotated[float, latest]
    replica: str  # the inference replica serving this session (cache affinity)
    tape: dict[str, str]  # a replay evaluation's: its tool calls answered from an earlier run
    model: str  # a fork's model name for its own turns (absent: the endpoint's)
    forced: bool
    steered: int
    cancelled: str
    answer: str
    termination: str
