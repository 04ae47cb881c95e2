"""What a scheduled run compares itself with: the run of its schedule before it (sources new and
gone, pages whose content changed by digest, whether the answer changed). An activity of the
worker that holds a Temporal client, which reads both runs' histories."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, Field
from temporalio import activity


class CompareRequest(BaseModel):
    schedule_id: str
    session_id: str
    answer: str
    sources: list[str] = Field(default_factory=list)


class Comparison(BaseModel):
    """This run against the one before it (`previous` None: the first run, nothing compared)."""

    previous: str | None = None
    new: list[str] = Field(default_factory=list, description="Sources the run before lacked.")
    gone: list[str] = Field(default_factory=list, description="Sources of the run before only.")
    changed: list[str] = Field(
        default_factory=list, description="Pages both read whose content digest differs."
    )
    answer_changed: bool = False

    def any(self) -> bool:
        """Whether something changed since the run before (never for a first run)."""
        found = self.new or self.gone or self.changed or self.answer_changed
        return self.previous is not None and bool(found)


# The request -> the comparison; the worker installs one over its Temporal client
# (workers/client/schedules.py).
Compare = Callable[[CompareRequest], Awaitable[Comparison]]


class ScheduledRuns:
    """The comparison as an activity of the worker that holds a Temporal client."""

    def __init__(self, compare: Compare) -> None:
        self._compare = compare

    @activity.defn(name="schedule.compare")
    async def compare(self, request: CompareRequest) -> Comparison:
        return await self._compare(request)
