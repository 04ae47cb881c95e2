"""Whether a tenant's day or month budget is spent: what a running session of a tenant with
such a bound asks now and then, so that it pauses (and goes on) with its tenant's spending."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

# The tenant's name -> the one-line reason its period budget is spent, or None. The worker
# installs one that sums the sessions' usage memos (workers/client/usage.py).
OverBudget = Callable[[str], Awaitable[str | None]]


class TenantBudgets:
    """The check as an activity of the worker that holds a Temporal client."""

    def __init__(self, over: OverBudget) -> None:
        self._over = over

    @activity.defn(name="tenant.over_budget")
    async def over_budget(self, tenant: str) -> str:
        """The reason the tenant's sessions must wait now; "" while they may go on."""
        return await self._over(tenant) or ""
