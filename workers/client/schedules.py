"""Schedules that watch a topic (`deepresearch schedule`, `/v1/schedules`): a Temporal Schedule
per question that starts a normal session every interval or on a cron, skipping a run while
the last still runs; each run compares itself with the one before (`compare_runs`)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import Priority, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from activities.schedules import CompareRequest, Comparison
from workers.boundary.keys import DEFAULT_TENANT, TENANT, Caller
from workers.client import inputs
from workers.client.errors import InvalidRequest, SessionConflict, SessionError
from workers.client.inputs import AskOptions, WebhookRequest
from workers.client.timeline import pages_read, session_histories
from workers.config import duration_seconds
from workers.workflows import search_attributes
from workers.workflows.heavy import HeavyWorkflow
from workers.workflows.models import ResearchReport, ScheduleLink
from workers.workflows.research import ResearchWorkflow

if TYPE_CHECKING:
    from workers.client.sessions import Sessions

# Runs missed while the server or every worker was down longer than this are skipped, not
# caught up (one run then, at the next time).
CATCHUP_WINDOW = timedelta(minutes=10)
log = logging.getLogger(__name__)
# The webhook events of a scheduled run by `notify`
NOTIFY_EVENTS = {"changed": ["changed", "failed"], "always": ["completed", "failed"]}
MEMO_KEYS = ("tenant", "question", "mode", "notify", "every", "cron")


class ScheduleNotFound(SessionError):
    http_status = 404

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"no schedule with id {schedule_id!r}")


@contextmanager
def found(schedule_id: str) -> Iterator[None]:
    """Temporal's NOT_FOUND for a schedule as our one-line ScheduleNotFound."""
    try:
        yield
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise ScheduleNotFound(schedule_id) from None
        raise


class ScheduleOptions(BaseModel):
    """A new schedule (`schedule create`'s flags, the API's body)."""

    question: str
    every: str | None = Field(None, description="An interval: 90s, 30m, 12h, 1d.")
    cron: str | None = Field(None, description="A cron expression, e.g. '0 8 * * MON' (UTC).")
    report: bool = False
    mode: Literal["react", "heavy"] = "react"
    branches: int = Field(3, ge=1, le=16, description="Heavy mode's branches.")
    webhook: WebhookRequest | None = None
    notify: Literal["changed", "always"] = "changed"
    tenant: str = Field(DEFAULT_TENANT, pattern=TENANT.pattern)
    id: str | None = None


class ScheduleRun(BaseModel):
    session_id: str
    status: str
    started: str


class ScheduleView(BaseModel):
    """A schedule as `schedule show` and `GET /v1/schedules/{id}` give it."""

    id: str
    tenant: str
    question: str
    mode: str = "react"
    every: str | None = None
    cron: str | None = None
    notify: str = "changed"
    paused: bool = False
    note: str = ""
    next_runs: list[str] = Field(default_factory=list)
    runs: list[ScheduleRun] = Field(default_factory=list, description="Newest first.")
    last_comparison: dict[str, Any] | None = Field(
        None, description="The newest completed run against the run before it."
    )


def spec_of(options: ScheduleOptions, min_seconds: float) -> ScheduleSpec:
    """The schedule's times: exactly one of an interval (at least `min_seconds`) or a cron."""
    if (options.every is None) == (options.cron is None):
        raise InvalidRequest("give one of every (an interval such as 1d) or cron")
    if options.cron is not None:
        return ScheduleSpec(cron_expressions=[options.cron.strip()])
    try:
        seconds = duration_seconds(options.every or "")
    except ValueError as error:
        raise InvalidRequest(f"every: {error}") from None
    if seconds < min_seconds:
        raise InvalidRequest(
            f"every: {options.every} is shorter than {min_seconds:g} s "
            "(DEEPRESEARCH_SCHEDULE_MIN_INTERVAL)"
        )
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=seconds))])


class Schedules:
    """Create, list, read, pause, unpause, trigger and delete schedules, tenant by tenant."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.client = sessions.client
        self.settings = sessions.settings

    def _handle(self, schedule_id: str) -> ScheduleHandle:
        return self.client.get_schedule_handle(schedule_id)

    async def create(self, options: ScheduleOptions) -> ScheduleView:
        from workers.client.sessions import (
            BATCH_PRIORITY,
            check_session_id,
            tenant_options,
            validate,
        )

        schedule_id = check_session_id(options.id or f"schedule-{uuid.uuid4().hex[:10]}")
        spec = spec_of(options, self.settings.schedule_min_interval)
        asked = AskOptions(
            question=options.question, report=options.report, tenant=options.tenant,
            webhook=options.webhook, mode=options.mode, branches=options.branches,
        )  # fmt: skip
        validate(self.settings, asked)
        request = inputs.research_input(self.settings, asked, {})
        await inputs.check_webhook(self.settings, request.webhook)
        request = await inputs.stamp(self.client, self.settings, request)
        webhook = request.webhook  # asked, or DEEPRESEARCH_WEBHOOK_URL's: events by `notify`
        if webhook is not None:
            webhook = webhook.model_copy(update={"events": NOTIFY_EVENTS[options.notify]})
        link = ScheduleLink(id=schedule_id, notify=options.notify)
        request = request.model_copy(update={"schedule": link, "webhook": webhook})
        owned = tenant_options(request, BATCH_PRIORITY)
        indexed = owned.get("search_attributes")
        pairs = list(indexed.search_attributes) if indexed is not None else []
        if request.indexed:
            pairs.append(SearchAttributePair(search_attributes.SCHEDULE, schedule_id))
        run: Any = ResearchWorkflow.run
        argument: Any = request
        if options.mode == "heavy":
            run, argument = HeavyWorkflow.run, inputs.heavy_input(self.settings, asked, request)
        action = ScheduleActionStartWorkflow(
            run,
            argument,
            id=schedule_id,
            task_queue=self.settings.task_queue,
            memo=owned["memo"],
            typed_search_attributes=TypedSearchAttributes(pairs),
            priority=owned.get("priority", Priority()),
            static_summary=f"schedule {schedule_id}: {options.question[:100]}",
        )
        memo = {
            "tenant": options.tenant,
            "question": options.question[:1000],
            "mode": options.mode,
            "notify": options.notify,
            "every": options.every,
            "cron": options.cron,
        }
        schedule = Schedule(
            action=action,
            spec=spec,
            policy=SchedulePolicy(
                overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW
            ),
            state=ScheduleState(note=f"watching: {options.question[:200]}"),
        )
        try:
            try:
                await self.client.create_schedule(schedule_id, schedule, memo=memo)
            except RPCError as error:
                if "search attribute" not in error.message or not pairs:
                    raise
                # a server that registered our attributes moments ago may not know them yet:
                # the runs then go without (the schedule finds them by its own record)
                log.warning("schedule %s without search attributes: %s", schedule_id, error)
                action.typed_search_attributes = TypedSearchAttributes([])
                await self.client.create_schedule(schedule_id, schedule, memo=memo)
        except ScheduleAlreadyRunningError:
            raise SessionConflict(
                f"the schedule id {schedule_id!r} is taken; choose another"
            ) from None
        except RPCError as error:
            if error.status == RPCStatusCode.INVALID_ARGUMENT:
                raise InvalidRequest(f"invalid schedule: {error.message}") from None
            raise
        return await self.show(schedule_id)

    async def _memo(self, schedule_id: str) -> tuple[ScheduleDescription, dict[str, Any]]:
        with found(schedule_id):
            described = await self._handle(schedule_id).describe()
        return described, await described.memo()

    async def check_access(self, caller: Caller, schedule_id: str) -> None:
        """ScheduleNotFound, exactly as for an unknown id, unless `caller` may see it."""
        _, memo = await self._memo(schedule_id)
        if not caller.admin and memo.get("tenant", DEFAULT_TENANT) != caller.tenant:
            raise ScheduleNotFound(schedule_id)

    async def show(self, schedule_id: str) -> ScheduleView:
        described, memo = await self._memo(schedule_id)
        state = described.schedule.state
        view = ScheduleView(
            id=schedule_id,
            **{k: memo.get(k) for k in MEMO_KEYS if memo.get(k) is not None},
            paused=state.paused,
            note=state.note or "",
            next_runs=[t.isoformat() for t in described.info.next_action_times[:3]],
            runs=await recent_runs(self.client, schedule_id, described),
        )
        for run in view.runs:
            if run.status == "completed":
                handle = self.client.get_workflow_handle(run.session_id, result_type=ResearchReport)
                report = await handle.result()
                if report.comparison is not None:
                    view.last_comparison = report.comparison.model_dump()
                break
        return view

    async def list(self, tenant: str | None = None) -> list[ScheduleView]:
        """Schedules (of `tenant`; None: all), without their runs."""
        views = []
        async for listed in await self.client.list_schedules():
            memo = await listed.memo()
            if "question" not in memo or (tenant is not None and memo.get("tenant") != tenant):
                continue  # not ours, or another tenant's
            state = listed.schedule.state if listed.schedule else None
            views.append(
                ScheduleView(
                    id=listed.id,
                    **{k: memo.get(k) for k in MEMO_KEYS if memo.get(k) is not None},
                    paused=bool(state and state.paused),
                    next_runs=[t.isoformat() for t in listed.info.next_action_times[:1]],
                )
            )
        return sorted(views, key=lambda view: view.id)

    async def pause(self, schedule_id: str, note: str = "") -> ScheduleView:
        with found(schedule_id):
            await self._handle(schedule_id).pause(note=note.strip() or "paused")
        return await self.show(schedule_id)

    async def unpause(self, schedule_id: str) -> ScheduleView:
        with found(schedule_id):
            await self._handle(schedule_id).unpause(note="unpaused")
        return await self.show(schedule_id)

    async def trigger(self, schedule_id: str) -> ScheduleView:
        """A run now (skipped while the last still runs, as any run is)."""
        with found(schedule_id):
            await self._handle(schedule_id).trigger()
        return await self.show(schedule_id)

    async def delete(self, schedule_id: str) -> None:
        """The schedule goes; its runs stay, as the sessions they are."""
        with found(schedule_id):
            await self._handle(schedule_id).delete()


async def recent_runs(
    client: Client, schedule_id: str, described: ScheduleDescription | None = None
) -> list[ScheduleRun]:
    """The schedule's recent runs (the server keeps its last ten), newest first, with each
    session's status now; a run whose session is gone is left out. `described`: the
    schedule's description, when the caller has it already."""
    from workers.client.sessions import status_name

    if described is None:
        try:
            described = await client.get_schedule_handle(schedule_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return []  # deleted while its last run ran
            raise
    runs = []
    for done in reversed(described.info.recent_actions):
        action = done.action
        if not isinstance(action, ScheduleActionExecutionStartWorkflow):
            continue
        try:
            execution = await client.get_workflow_handle(action.workflow_id).describe()
        except RPCError:
            continue
        runs.append(
            ScheduleRun(
                session_id=action.workflow_id,
                status=status_name(execution.status),
                started=execution.start_time.isoformat(),
            )
        )
    return runs


async def run_pages(client: Client, session_id: str) -> dict[str, str]:
    """URL -> blob digest of the pages a run read: its own, and a Heavy run's branches'."""
    histories = await session_histories(client, session_id)
    pages = await pages_read(client, histories)
    for history in histories:
        for event in history.events:
            if event.event_type != EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                continue
            child = event.start_child_workflow_execution_initiated_event_attributes
            if child.workflow_type.name == ResearchWorkflow.__name__:
                branch = await session_histories(client, child.workflow_id)
                pages = await pages_read(client, branch) | pages
    return pages


async def compare_runs(client: Client, request: CompareRequest) -> Comparison:
    """This run against the newest completed run of its schedule that started before it:
    sources new and gone, pages read by both whose content (blob digest) differs, and
    whether the answer changed."""
    this = await client.get_workflow_handle(request.session_id).describe()
    earlier = [
        run
        for run in await recent_runs(client, request.schedule_id)
        if run.session_id != request.session_id
        and run.status == "completed"
        and run.started < this.start_time.isoformat()
    ]
    if not earlier:
        return Comparison()
    previous = earlier[0].session_id  # newest first
    report = await client.get_workflow_handle(previous, result_type=ResearchReport).result()
    before = await run_pages(client, previous)
    now = await run_pages(client, request.session_id)
    return Comparison(
        previous=previous,
        new=[url for url in request.sources if url not in report.sources],
        gone=[url for url in report.sources if url not in request.sources],
        changed=[url for url, blob in now.items() if url in before and before[url] != blob],
        answer_changed=" ".join(request.answer.split()) != " ".join(report.answer.split()),
    )
