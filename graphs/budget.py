"""A session's budget: what it may spend (tokens, dollars, searches, pages), what it spent, and
what happens when it runs out. Pure: the prices come in the session's input, so the dollars a
history recorded are the dollars it replays."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OnBudget = Literal["answer", "pause"]
SEARCH_NODES = frozenset({"search", "scholar"})  # a query sent to the search provider
PAGE_NODES = frozenset({"fetch", "read"})  # a page read (and its evidence extracted)
# What a session waits for when its tenant's day or month budget is spent (not its own bound)
TENANT_HOLD = "tenant"


class Budget(BaseModel):
    """Upper bounds; a field left out is no bound. Tokens are the research model's (prompt and
    completion, from the server's usage, else our estimate); dollars come from `Prices`."""

    model_config = ConfigDict(extra="forbid")

    tokens: int | None = Field(None, ge=0, le=10**12)
    usd: float | None = Field(None, ge=0, le=10**9, allow_inf_nan=False)
    searches: int | None = Field(None, ge=0, le=10**9)
    pages: int | None = Field(None, ge=0, le=10**9)

    def bounded(self) -> bool:
        return any(v is not None for v in self.model_dump().values())

    def raised(self, add: Budget) -> Budget:
        """This budget plus `add` on every field `add` names (an unbounded field named by
        `add` stays unbounded: there is nothing to raise)."""
        mine, more = self.model_dump(), add.model_dump()
        return Budget(
            **{k: v if v is None or more[k] is None else v + more[k] for k, v in mine.items()}
        )

    def capped(self, cap: Budget) -> Budget:
        """Each field at most `cap`'s (a tenant's default or ceiling)."""
        mine, top = self.model_dump(), cap.model_dump()
        return Budget(
            **{
                k: top[k] if v is None else (v if top[k] is None else min(v, top[k]))
                for k, v in mine.items()
            }
        )


class Prices(BaseModel):
    """What one session's spending costs, in US dollars: its model's prompt and completion
    tokens per million, each search query and each page read (its extraction included)."""

    model_config = ConfigDict(extra="forbid")

    prompt: float = Field(0.0, ge=0, allow_inf_nan=False, description="USD per 1M tokens")
    completion: float = Field(0.0, ge=0, allow_inf_nan=False, description="USD per 1M tokens")
    search: float = Field(0.0, ge=0, allow_inf_nan=False, description="USD per search query")
    page: float = Field(0.0, ge=0, allow_inf_nan=False, description="USD per page read")


class Spent(BaseModel):
    """What a session spent so far; `estimated_tokens` of `tokens` are our estimate (a server
    that reported no usage)."""

    tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_tokens: int = 0
    searches: int = 0
    pages: int = 0
    usd: float = 0.0


def spent(state: dict[str, Any]) -> Spent:
    prices = Prices(**state.get("prices") or {})
    prompt, completion = state.get("prompt_tokens", 0), state.get("completion_tokens", 0)
    searches, pages = state.get("searches", 0), state.get("pages_read", 0)
    usd = (
        prompt * prices.prompt / 1e6
        + completion * prices.completion / 1e6
        + searches * prices.search
        + pages * prices.page
    )
    return Spent(
        tokens=prompt + completion,
        prompt_tokens=prompt,
        completion_tokens=completion,
        estimated_tokens=state.get("estimated_tokens", 0),
        searches=searches,
        pages=pages,
        usd=round(usd, 6),
    )


def bound_reached(budget: Budget, used: Spent) -> str | None:
    """The first bound reached (`tokens`, `usd`, `searches`, `pages`), or None."""
    for name in ("tokens", "usd", "searches", "pages"):
        bound = getattr(budget, name)
        if bound is not None and getattr(used, name) >= bound:
            return name
    return None


def affordable(budget: Budget, used: Spent, node: str) -> int | None:
    """How many more tasks of a tool node the counted bounds allow (None: no bound)."""
    if node in SEARCH_NODES and budget.searches is not None:
        return max(0, budget.searches - used.searches)
    if node in PAGE_NODES and budget.pages is not None:
        return max(0, budget.pages - used.pages)
    return None


def lifted(budget: Budget, used: Spent, need: dict[str, int] | None) -> bool:
    """Whether a paused session may go on: after a finished step, when no bound is reached;
    paused before a turn's calls (`need`: its searches and pages), when all of them fit."""
    if not need:
        return bound_reached(budget, used) is None
    for node, what in (("search", "searches"), ("fetch", "pages")):
        room = affordable(budget, used, node)
        if room is not None and room < need.get(what, 0):
            return False
    return True
