"""What sessions spent, summed per tenant and model from their memos (`deepresearch usage`,
`GET /v1/usage`), and the tenants' day and month budgets checked against it at each start."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from temporalio.client import Client

from graphs.budget import Spent
from workers.client.budgets import (
    add_spent,
    over_period,
    period_bounded,
    period_starts,
    tenant_budgets,
)
from workers.client.errors import OverBudget
from workers.config import Settings

# One run per session counts: a run that continued as new is counted by its successor, whose
# state (and memo) carries everything the session spent.
QUERY = "WorkflowType = 'ResearchWorkflow' AND ExecutionStatus != 'ContinuedAsNew'"


class UsageRow(BaseModel):
    tenant: str
    model: str
    sessions: int = 0
    spent: Spent = Field(default_factory=Spent)


async def spending(
    client: Client, since: datetime, tenant: str | None = None
) -> list[tuple[datetime, str, str, Spent]]:
    """(start time, tenant, model, spent) of every session run started since `since` that
    recorded its spending (sessions started before budgets existed did not)."""
    query = f"{QUERY} AND StartTime >= '{since.isoformat()}'"
    found = []
    async for execution in client.list_workflows(query):
        memo = await execution.memo()
        if not isinstance(memo.get("spent"), dict):
            continue
        owner = str(memo.get("tenant") or "default")
        if tenant is not None and owner != tenant:
            continue
        spent = Spent.model_validate(memo["spent"])
        found.append((execution.start_time, owner, str(memo.get("model") or ""), spent))
    return found


async def usage(client: Client, since: datetime, tenant: str | None = None) -> list[UsageRow]:
    """Spending per (tenant, model), largest dollars first."""
    rows: dict[tuple[str, str], UsageRow] = {}
    for _, owner, model, spent in await spending(client, since, tenant):
        row = rows.setdefault((owner, model), UsageRow(tenant=owner, model=model))
        row.sessions += 1
        row.spent = add_spent(row.spent, spent)
    return sorted(rows.values(), key=lambda r: (-r.spent.usd, -r.spent.tokens, r.tenant, r.model))


async def tenant_over(client: Client, settings: Settings, tenant: str, now: datetime) -> str | None:
    """The one-line reason the tenant's day or month budget is spent, or None while it is not
    (or it has none): at each start (429), and by its running sessions (they pause)."""
    bounds = tenant_budgets(settings.tenant_budgets_file).of(tenant)
    if not period_bounded(bounds):
        return None
    starts = period_starts(now)
    used = {"day": Spent(), "month": Spent()}
    for started, _, _, spent in await spending(client, starts["month"], tenant):
        used["month"] = add_spent(used["month"], spent)
        if started >= starts["day"]:
            used["day"] = add_spent(used["day"], spent)
    return over_period(tenant, bounds, used)


async def check_tenant_budget(
    client: Client, settings: Settings, tenant: str, now: datetime
) -> None:
    """OverBudget (429) when the tenant's day or month budget is spent."""
    reason = await tenant_over(client, settings, tenant, now)
    if reason is not None:
        raise OverBudget(reason)
