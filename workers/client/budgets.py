"""Budgets as a deployment configures them: the price table (DEEPRESEARCH_PRICES) that turns
what a session spent into dollars, and the tenants' budgets (DEEPRESEARCH_TENANT_BUDGETS): a
default and ceiling per session, and a bound per day and per month."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.errors import ConfigurationError
from graphs.budget import Budget, OnBudget, Prices, Spent, bound_reached
from workers.boundary.keys import TENANT

ANY_TENANT = "*"
ANY_MODEL = "*"


class ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: float = Field(0.0, ge=0, allow_inf_nan=False)
    completion: float = Field(0.0, ge=0, allow_inf_nan=False)


class PriceTable(BaseModel):
    """`{"models": {"NAME": {"prompt": USD per 1M, "completion": USD per 1M}}, "search": USD,
    "page": USD}`; a model named `*` prices every model not listed."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelPrice] = Field(default_factory=dict)
    search: float = Field(0.0, ge=0, allow_inf_nan=False)
    page: float = Field(0.0, ge=0, allow_inf_nan=False)

    def of(self, model: str) -> Prices:
        row = self.models.get(model) or self.models.get(ANY_MODEL) or ModelPrice()
        return Prices(
            prompt=row.prompt, completion=row.completion, search=self.search, page=self.page
        )


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def price_table(raw: str) -> PriceTable:
    """DEEPRESEARCH_PRICES (JSON; empty: everything costs 0), or a one-line error naming it."""
    if not raw.strip():
        return PriceTable()
    try:
        return PriceTable.model_validate(json.loads(raw))
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"invalid setting DEEPRESEARCH_PRICES: not JSON ({error.msg} at column {error.colno})"
        ) from None
    except ValidationError as error:
        raise ConfigurationError(
            f"invalid setting DEEPRESEARCH_PRICES: {_first_error(error)}"
        ) from None


class TenantBudget(BaseModel):
    """One tenant's budgets: `session` is the default of a session that names none and the
    most one may ask for; `day` and `month` bound what all its sessions spend (UTC)."""

    model_config = ConfigDict(extra="forbid")

    session: Budget = Field(default_factory=Budget)
    on_budget: OnBudget | None = None
    day: Budget = Field(default_factory=Budget)
    month: Budget = Field(default_factory=Budget)


class TenantBudgets(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenants: dict[str, TenantBudget] = Field(default_factory=dict)

    def of(self, tenant: str) -> TenantBudget:
        return self.tenants.get(tenant) or self.tenants.get(ANY_TENANT) or TenantBudget()


def tenant_budgets(path: Path | None) -> TenantBudgets:
    """DEEPRESEARCH_TENANT_BUDGETS: a TOML or JSON file (`[tenants.NAME]` with `session`,
    `day`, `month` tables and `on_budget`); read on every call, so edits apply at once."""
    if path is None:
        return TenantBudgets()
    where = f"invalid setting DEEPRESEARCH_TENANT_BUDGETS ({path})"
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigurationError(f"{where}: cannot read it: {error.strerror}") from None
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{where}: {str(error).splitlines()[0]}") from None
    try:
        parsed = TenantBudgets.model_validate(data)
    except ValidationError as error:
        raise ConfigurationError(f"{where}: {_first_error(error)}") from None
    for name in parsed.tenants:
        if name != ANY_TENANT and not TENANT.fullmatch(name):
            raise ConfigurationError(f"{where}: {name!r} is not a tenant name")
    return parsed


def period_bounded(bounds: TenantBudget) -> bool:
    """Whether the tenant has a day or month bound (its sessions then watch it as they run)."""
    return bounds.day.bounded() or bounds.month.bounded()


def period_starts(now: datetime) -> dict[str, datetime]:
    """The UTC day and month the tenant bounds count."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return {"day": day, "month": day.replace(day=1)}


def over_period(tenant: str, bounds: TenantBudget, used: dict[str, Spent]) -> str | None:
    """Why `tenant` may start nothing now (a day or month bound reached), or None."""
    for period in ("day", "month"):
        bound: Budget = getattr(bounds, period)
        reached = bound_reached(bound, used[period])
        if reached is not None:
            spent_now = getattr(used[period], reached)
            limit = getattr(bound, reached)
            shown = (
                f"${spent_now:.2f} of its ${limit:.2f}"
                if reached == "usd"
                else f"{spent_now} of its {limit} {reached}"
            )
            return (
                f"tenant {tenant!r} spent {shown} {period} budget "
                "(DEEPRESEARCH_TENANT_BUDGETS); its sessions wait for the next "
                f"{'day' if period == 'day' else 'month'} (UTC) or a raised budget"
            )
    return None


def add_spent(total: Spent, more: Spent) -> Spent:
    return Spent(**{k: getattr(total, k) + getattr(more, k) for k in Spent.model_fields})
