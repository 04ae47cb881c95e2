"""`Sessions`: the typed Python API over durable research sessions. It starts, attaches to,
lists, watches, steers, cancels, resumes and exports sessions and reads their timelines; the
CLI, the HTTP API and the MCP server call it and nothing else talks to Temporal for them."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Literal

from pydantic import BaseModel, ValidationError
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    Priority,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.blobstore import BlobStore
from graphs.budget import Budget
from graphs.heavy import usable
from graphs.plan import Approval, NotWaiting, Plan
from workers.boundary.keys import DEFAULT_TENANT, TENANT, Caller
from workers.client import inputs
from workers.client.compare import compare as compare_sessions
from workers.client.errors import (
    InvalidRequest,
    SessionConflict,
    SessionError,
    SessionFailed,
    SessionNotFound,
    TemporalUnavailable,
)
from workers.client.inputs import AskOptions
from workers.client.timeline import (
    earlier_context,
    final_report,
    first_input,
    last_turn_state,
    page_reads,
    pages_read,
    read_timeline,
    session_histories,
    state_at_step,
    tongyi_record,
)
from workers.client.usage import UsageRow, check_tenant_budget
from workers.client.usage import usage as usage_rows
from workers.client.webhooks import deliveries as webhook_deliveries
from workers.config import Settings, load_settings
from workers.hosting import devserver
from workers.hosting.blobs import blob_store
from workers.hosting.research_worker import connect
from workers.workflows import search_attributes
from workers.workflows.heavy import HeavyInput, HeavyProgress, HeavyWorkflow
from workers.workflows.models import FollowUp, ForkFrom, Progress, ResearchInput, ResearchReport
from workers.workflows.research import ResearchWorkflow, root_message

STATUSES = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Canceled",
    "terminated": "Terminated",
    "timed-out": "TimedOut",
}
STARTING_SECONDS = 30.0  # how long a frontend that is still starting is waited for
# A query no worker answers fails after this long (the server's default is about 30 s).
QUERY_TIMEOUT = timedelta(seconds=3)
SESSION_TYPES = "WorkflowType IN ('ResearchWorkflow', 'HeavyWorkflow')"


def status_name(status: int | None) -> str:
    """A workflow execution status as a word: running, completed, failed, ..."""
    if status is None:
        return "unknown"
    return WorkflowExecutionStatus.Name(status).removeprefix("WORKFLOW_EXECUTION_STATUS_").lower()


MAX_SINCE_SECONDS = 36500 * 86400  # a century: anything longer means "all"
WORD = re.compile(r"[^\W_]+")
MAX_QUERY_WORDS = 16


def parse_age(since: str) -> timedelta:
    """'30m', '2h', '7d' -> that span; InvalidRequest in one line for anything else."""
    units = {"m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(since[:-1]) * units[since[-1]]
    except (KeyError, ValueError, IndexError):
        seconds = math.nan
    if not 0 <= seconds <= MAX_SINCE_SECONDS:  # also nan and inf
        raise InvalidRequest(
            f"invalid --since {since[:40]!r}: use a number with m, h or d (e.g. 2h), "
            f"at most {MAX_SINCE_SECONDS // 86400} days"
        )
    return timedelta(seconds=seconds)


def since_clause(since: str, now: datetime) -> str:
    """'30m', '2h', '7d' -> a StartTime filter."""
    start = (now - parse_age(since)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"StartTime > '{start}'"


def list_query(
    status: str | None = None,
    since: str | None = None,
    text: str | None = None,
    tenant: str | None = None,
) -> str:
    """The visibility query for `list`: sessions (not branches' parents' helpers), filtered;
    `tenant` None: every tenant's."""
    clauses = [SESSION_TYPES]
    if tenant is not None:
        if not TENANT.fullmatch(tenant):
            raise InvalidRequest(f"invalid --tenant {tenant[:40]!r}: not a tenant name")
        mine = f"{search_attributes.TENANT.name} = '{tenant}'"
        # sessions started before tenants carry no tenant: they are the default tenant's
        unset = f"{search_attributes.TENANT.name} IS NULL"
        clauses.append(f"({mine} OR {unset})" if tenant == DEFAULT_TENANT else mine)
    if status:
        if status not in STATUSES:
            raise InvalidRequest(f"invalid --status {status!r}: choose from {', '.join(STATUSES)}")
        clauses.append(f"ExecutionStatus = '{STATUSES[status]}'")
    if since:
        clauses.append(since_clause(since, datetime.now(UTC)))
    if text:
        # Words only, lower case: the visibility store's full-text syntax (quotes, AND, NEAR,
        # `*`) never sees the caller's text, so no query can fail on it or be steered by it.
        words = WORD.findall(text.lower())[:MAX_QUERY_WORDS]
        if not words:
            raise InvalidRequest("invalid --q: give words to look for in the questions")
        clauses += [f"{search_attributes.QUESTION.name} = '{word}'" for word in words]
    return " AND ".join(clauses)


SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")


TENANT_MEMO = "tenant"
# Temporal task priorities (1 first, 3 the server's default): a person waiting goes before
# batch work on every queue; activities and child workflows inherit their workflow's.
INTERACTIVE_PRIORITY = 2
BATCH_PRIORITY = 4
log = logging.getLogger(__name__)


WEBHOOK_MEMO = "webhook"
FOLLOW_UP_MEMO = "follow_up_of"  # a follow-up's earlier session
FORK_MEMO = "forked_from"  # a fork's original session and step: {"session": ..., "step": N}


def tenant_options(
    request: ResearchInput,
    priority: int = INTERACTIVE_PRIORITY,
    synthesis_of: str | None = None,
) -> dict[str, Any]:
    """What records a new run's tenant: its memo (always: ownership is read from it), the
    search attribute `list` filters by (where the server indexes ours), and its priority,
    with the tenant as fairness key (one tenant's burst does not starve another's where the
    server has fairness on). `synthesis_of`: the Heavy session a synthesis fork is of."""
    memo: dict[str, Any] = {TENANT_MEMO: request.tenant}
    if request.webhook is not None:
        memo[WEBHOOK_MEMO] = True  # a view then asks how its messages fared
    pairs = [SearchAttributePair(search_attributes.TENANT, request.tenant)]
    if request.follow_up is not None:
        memo[FOLLOW_UP_MEMO] = request.follow_up.of
        pairs.append(SearchAttributePair(search_attributes.FOLLOW_UP_OF, request.follow_up.of))
    if request.fork is not None:
        memo[FORK_MEMO] = {"session": request.fork.of, "step": request.fork.step}
        pairs.append(SearchAttributePair(search_attributes.FORK_OF, request.fork.of))
    if synthesis_of is not None:
        memo[FORK_MEMO] = {"session": synthesis_of, "step": None, "synthesis": True}
        pairs.append(SearchAttributePair(search_attributes.FORK_OF, synthesis_of))
    options: dict[str, Any] = {
        "memo": memo,
        "priority": Priority(priority_key=priority, fairness_key=request.tenant),
    }
    if request.indexed:
        options["search_attributes"] = TypedSearchAttributes(pairs)
    return options


MAX_FORK_DEPTH = 100  # forks of forks followed back; a guard against a cycle of memos


def fork_origin(memo: dict[str, Any]) -> dict[str, Any] | None:
    """A fork's original from its memo: {session, step (None for a synthesis fork)[,
    synthesis]}; None for a session that is not a fork."""
    origin = memo.get(FORK_MEMO)
    if not isinstance(origin, dict) or not isinstance(origin.get("session"), str):
        return None
    step = origin.get("step")
    return {
        "session": origin["session"],
        "step": int(step) if isinstance(step, int) else None,
        **({"synthesis": True} if origin.get("synthesis") else {}),
    }


def new_session_id(session_id: str | None) -> str:
    """The caller's id, checked, or a fresh one."""
    return check_session_id(session_id or f"research-{uuid.uuid4().hex[:12]}")


def check_session_id(session_id: str) -> str:
    """Ids name files (reports) and URLs: letters, digits, `.`, `_`, `-`; no path."""
    if not SESSION_ID.fullmatch(session_id) or ".." in session_id:
        raise InvalidRequest(
            f"invalid session id {session_id[:80]!r}: use letters, digits, '.', '_', ':' and '-' "
            "(at most 200, starting with a letter or digit)"
        )
    return session_id


def heavy_parent(session_id: str, verb: str) -> str:
    return f"{session_id} is a Heavy session: {verb} its branches ({session_id}-b0, ...)"


class SessionRow(BaseModel):
    """One session as `list` shows it (from the search attributes, no history read)."""

    session_id: str
    status: str
    started: str
    steps: int | None = None
    termination: str | None = None
    model: str | None = None
    question: str = ""
    tenant: str = DEFAULT_TENANT


def session_row(execution: WorkflowExecution) -> SessionRow:
    """A listed (or described) workflow execution as a `SessionRow`."""
    found = execution.typed_search_attributes
    return SessionRow(
        session_id=execution.id,
        status=status_name(execution.status),
        started=execution.start_time.isoformat() if execution.start_time else "",
        steps=found.get(search_attributes.STEPS),
        termination=found.get(search_attributes.TERMINATION),
        model=found.get(search_attributes.MODEL),
        question=found.get(search_attributes.QUESTION) or "",
        tenant=found.get(search_attributes.TENANT) or DEFAULT_TENANT,
    )


@dataclass(frozen=True)
class Started:
    """A session `start` or `resume` started or attached to."""

    session_id: str
    # started: a new run; running: attached to a run in progress; completed: already done;
    # stopped: it failed, was terminated or timed out (`resume` continues it)
    status: Literal["started", "running", "completed", "stopped"]
    heavy: bool = False
    resumed_at: int | None = None  # `resume`: the model call it continues from


@dataclass(frozen=True)
class HeavyLive:
    """A Heavy session's live view: its branches and each running branch's own progress."""

    progress: HeavyProgress
    running: dict[int, Progress]


class Sessions:
    """Research sessions of one deployment (its settings and Temporal namespace)."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @classmethod
    async def connect(
        cls, settings: Settings | None = None, metrics_port: int | None = None
    ) -> Sessions:
        """Connect to TEMPORAL_ADDRESS, or to the embedded dev server (started if needed)."""
        settings = settings or load_settings()
        address = settings.temporal_address or devserver.ensure_dev_server(settings.data_dir)
        deadline = asyncio.get_running_loop().time() + STARTING_SECONDS
        while True:
            try:
                client = await connect(settings, address, metrics_port)
            except RuntimeError as error:
                # a server whose port is open may still be starting ("not healthy yet")
                starting = "not healthy yet" in str(error)
                if starting and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.5)
                    continue
                raise TemporalUnavailable(f"cannot reach Temporal at {address}: {error}") from None
            return cls(client, settings)

    @property
    def blobs(self) -> BlobStore:
        return blob_store(self.settings)

    def _handle(self, session_id: str) -> WorkflowHandle[Any, ResearchReport]:
        return self.client.get_workflow_handle_for(ResearchWorkflow.run, session_id)

    async def describe(self, session_id: str) -> WorkflowExecutionDescription:
        """The session's workflow execution (its latest run); SessionNotFound if none."""
        try:
            return await self._handle(session_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise SessionNotFound(session_id) from None
            raise

    async def status(self, session_id: str) -> str | None:
        """running, completed, failed, ...; None when there is no such session."""
        try:
            return status_name((await self.describe(session_id)).status)
        except SessionNotFound:
            return None

    async def is_heavy(self, session_id: str) -> bool:
        description = await self.describe(session_id)
        return description.workflow_type == HeavyWorkflow.__name__

    async def owner(self, session_id: str) -> str:
        """The tenant a session (or, for a Heavy branch or an eval's session, its root)
        belongs to; SessionNotFound if there is none. Sessions from before tenants are
        `default`'s."""
        description = await self.describe(session_id)
        for _ in range(8):  # session -> Heavy parent -> eval run: never deeper
            if not description.parent_id:
                break
            description = await self.describe(description.parent_id)
        memo = await description.memo()
        tenant = memo.get(TENANT_MEMO)
        return tenant if isinstance(tenant, str) else DEFAULT_TENANT

    async def check_access(self, caller: Caller, session_id: str) -> None:
        """SessionNotFound, exactly as for an unknown id, unless `caller` may see the session
        (its own tenant's, or any for an admin): another tenant's ids cannot be probed."""
        if caller.admin:
            return  # an unknown id is the route's 404, as before tenants
        if await self.owner(session_id) != caller.tenant:
            raise SessionNotFound(session_id)

    async def _require(self, session_id: str) -> str:
        status = await self.status(session_id)
        if status is None:
            raise SessionNotFound(session_id)
        return status

    async def start(self, options: AskOptions, session_id: str | None = None) -> Started:
        """Start a session, or attach to the one with this id (running or finished): the same
        id never starts a second session."""
        validate(self.settings, options)
        session_id = new_session_id(session_id)
        files = inputs.upload_files(self.blobs, self.settings, options.files)
        return await self._start(options, files, session_id)

    async def start_with_uploads(
        self,
        options: AskOptions,
        uploads: list[tuple[str, BinaryIO]],
        session_id: str | None = None,
    ) -> Started:
        """`start` with files given as (name, open file) instead of paths (the HTTP API's
        uploads, streamed to the blob store), checked as `ask --file` checks its files."""
        validate(self.settings, options)
        session_id = new_session_id(session_id)  # without one, the server refused the start
        if options.files:
            raise InvalidRequest("give files as paths or as uploads, not both")
        files = await asyncio.to_thread(inputs.upload_streams, self.blobs, self.settings, uploads)
        return await self._start(options, files, session_id)

    async def _start(
        self, options: AskOptions, files: dict[str, str], session_id: str | None
    ) -> Started:
        request = inputs.research_input(self.settings, options, files)
        status = await self.status(session_id)
        if status is not None and status != "continued_as_new":  # never a second session
            if await self.owner(session_id) != options.tenant:
                raise SessionConflict(f"the session id {session_id!r} is taken; choose another")
            heavy = await self.is_heavy(session_id)
            shown = status if status in ("running", "completed") else "stopped"
            return Started(session_id, shown, heavy=heavy)  # type: ignore[arg-type]
        await check_tenant_budget(self.client, self.settings, options.tenant, datetime.now(UTC))
        await inputs.check_webhook(self.settings, request.webhook)
        if options.follow_up_of is not None:
            follow_up = await self._follow_up(options.follow_up_of, options.tenant)
            request = request.model_copy(update={"follow_up": follow_up})
        request = await inputs.stamp(self.client, self.settings, request)
        conflict = WorkflowIDConflictPolicy.USE_EXISTING
        if options.mode == "heavy":
            await self._start_owned(
                HeavyWorkflow.run,
                inputs.heavy_input(self.settings, options, request),
                request,
                id=session_id,
                id_conflict_policy=conflict,
            )
        else:
            await self._start_owned(
                ResearchWorkflow.run, request, request, id=session_id, id_conflict_policy=conflict
            )
        return Started(session_id, "started", heavy=options.mode == "heavy")

    async def _start_owned(
        self,
        run: Any,
        argument: Any,
        request: ResearchInput,
        synthesis_of: str | None = None,
        **options: Any,
    ) -> None:
        """Start a workflow that records `request`'s tenant. A server that registered our
        search attributes moments ago (a dev server upgraded in place) may not know the new
        one for a minute: the run then starts with the tenant in its memo only (ownership
        holds; `list --tenant` misses it)."""
        owned = tenant_options(request, synthesis_of=synthesis_of)
        try:
            await self.client.start_workflow(
                run, argument, task_queue=self.settings.task_queue, **options, **owned
            )
        except RPCError as error:
            if "search attribute" not in error.message or "search_attributes" not in owned:
                raise
            log.warning("starting %s without its tenant attribute: %s", options["id"], error)
            del owned["search_attributes"]
            await self.client.start_workflow(
                run, argument, task_queue=self.settings.task_queue, **options, **owned
            )

    async def _follow_up(self, session_id: str, tenant: str) -> FollowUp:
        """What a follow-up of `session_id` starts from: a completed single session of the
        same tenant, its conversation, ledger, sources and pages."""
        status = await self._require(check_session_id(session_id))
        owner = await self.owner(session_id)
        if owner != tenant:
            raise SessionConflict(
                f"session {session_id} is tenant {owner}'s; a follow-up is of its own tenant's "
                f"sessions (--tenant {owner})"
            )
        if await self.is_heavy(session_id):
            raise SessionConflict(heavy_parent(session_id, "follow up"))
        if status != "completed":
            raise SessionConflict(
                f"session {session_id} is {status}; a follow-up goes on from a completed session"
            )
        histories = await self.histories(session_id)
        earlier = await earlier_context(self.client, histories)
        if earlier is None:
            raise SessionConflict(f"session {session_id} made no model call to follow up on")
        report = await self.result(session_id)
        return FollowUp(of=session_id, sources=report.sources, **earlier)

    async def follow_ups(self, session_id: str) -> list[str]:
        """The ids of the follow-ups of a session, oldest first (where the server indexes
        our search attributes)."""
        return await self._linked(search_attributes.FOLLOW_UP_OF.name, session_id)

    async def forks(self, session_id: str) -> list[str]:
        """The ids of the forks of a session, oldest first (where the server indexes our
        search attributes)."""
        return await self._linked(search_attributes.FORK_OF.name, session_id)

    async def _linked(self, attribute: str, session_id: str) -> list[str]:
        query = f"{attribute} = '{check_session_id(session_id)}'"
        try:
            found = [execution.id async for execution in self.client.list_workflows(query)]
        except RPCError:  # the attribute is not indexed here
            return []
        return found[::-1]

    async def fork(
        self, session_id: str, options: inputs.ForkOptions, new_id: str | None
    ) -> Started:
        """A new session whose steps 1..N are the original's, from its recorded results (no
        model or tool call sent for them), going on live from step N+1 with the changes asked
        for. The original may still be running (any step whose next turn has begun)."""
        check_session_id(session_id)
        new_id = new_session_id(new_id)
        status = await self._require(session_id)
        if await self.status(new_id) is not None:
            raise SessionConflict(f"the session id {new_id!r} is taken; choose another")
        if await self.is_heavy(session_id):
            return await self._fork_synthesis(session_id, status, options, new_id)
        if options.synthesis is not None:
            raise InvalidRequest("synthesis: only a Heavy session's synthesis forks")
        step = options.at_step
        if step is None:
            raise InvalidRequest("at_step: name the last step the fork takes over (--at-step K)")
        # a step a fork took over is in its original's history (a fork of a fork: further up)
        source = session_id
        for _ in range(MAX_FORK_DEPTH):
            origin = await self._origin(source)
            if origin is None or (origin["step"] or 0) < step:
                break
            source = origin["session"]
        histories = await self.histories(source)
        state, begun = await state_at_step(self.client, histories, step)
        if state is None:
            taken = max(begun - 1, 0)
            raise SessionConflict(
                f"session {session_id} has {taken} completed step(s) followed by a model turn; "
                f"fork it at a step from 1 to {taken}"
                if taken
                else f"session {session_id} has no completed step followed by a model turn yet"
            )
        ledger = {entry.get("url") for entry in state.get("ledger") or []}
        pages = {u: b for u, b in (await pages_read(self.client, histories)).items() if u in ledger}
        fork = ForkFrom(
            of=session_id,
            step=step,
            state=state,
            pages=pages,
            model=options.model,
            question=options.question,
        )
        options = options.model_copy(
            update={"tenant": options.tenant or await self.owner(session_id)}
        )
        request = inputs.fork_input(self.settings, fork, options)
        await check_tenant_budget(self.client, self.settings, request.tenant, datetime.now(UTC))
        stamped = await inputs.stamp(self.client, self.settings, request)
        request = stamped.model_copy(
            # the model its turns ask for: the one named, else the one the original's asked for
            update={
                "model": options.model or state.get("model") or stamped.model,
                "protocol": request.protocol,
            }
        )
        await self._start_owned(ResearchWorkflow.run, request, request, id=new_id)
        return Started(new_id, "started", resumed_at=step + 1)

    async def resume(self, session_id: str) -> Started:
        """Continue a failed or terminated session from its last model call."""
        status = await self._require(session_id)
        if status in ("running", "completed"):
            raise SessionConflict(
                f"session {session_id} is {status}; only a stopped session can be resumed"
            )
        if await self.is_heavy(session_id):
            raise SessionConflict(heavy_parent(session_id, "resume") + ", or ask with a new id")
        state = await last_turn_state(self.client, await self.histories(session_id))
        if state is None:
            raise SessionConflict(
                f"session {session_id} stopped before its first model call; ask with a new id"
            )
        stopped = (await self._handle(session_id).describe()).run_id
        tenant = await self.owner(session_id)
        request = inputs.resume_input(state, resumed_from=stopped, tenant=tenant)
        request = await inputs.stamp(self.client, self.settings, request)
        await self._start_owned(ResearchWorkflow.run, request, request, id=session_id)
        return Started(session_id, "started", resumed_at=state.get("llm_calls", 0) + 1)

    async def progress(
        self, session_id: str, heavy: bool | None = None
    ) -> Progress | HeavyLive | None:
        """The live progress of a running session; None before a worker picked it up.
        `heavy` saves a lookup when the caller knows the session's kind."""
        handle = self._handle(session_id)
        try:
            if heavy if heavy is not None else await self.is_heavy(session_id):
                branches = await handle.query(HeavyWorkflow.progress, rpc_timeout=QUERY_TIMEOUT)
                return HeavyLive(branches, await self._branch_progress(branches))
        except RPCError:
            return None
        description = await handle.describe()
        try:
            progress = await handle.query(ResearchWorkflow.progress, rpc_timeout=QUERY_TIMEOUT)
        except RPCError:  # no worker has picked the session up yet
            started = description.start_time.isoformat() if description.start_time else None
            return Progress(node="waiting for a worker", started_at=started)
        pending = description.raw_description.pending_activities
        running = [activity.activity_type.name.split(".", 1)[-1] for activity in pending]
        return progress.model_copy(update={"running": running})

    async def _branch_progress(self, progress: HeavyProgress) -> dict[int, Progress]:
        """Each running branch's own progress (a branch is a session of its own)."""

        async def one(session_id: str) -> Progress | None:
            try:
                return await self._handle(session_id).query(
                    ResearchWorkflow.progress, rpc_timeout=QUERY_TIMEOUT
                )
            except RPCError:
                return None  # not started yet, or just finished

        running = [b for b in progress.branches if b.status == "running"]
        found = await asyncio.gather(*(one(b.session_id) for b in running))
        return {b.branch: p for b, p in zip(running, found, strict=True) if p is not None}

    async def watch(
        self, session_id: str, interval: float = 0.5
    ) -> AsyncIterator[Progress | HeavyLive | ResearchReport]:
        """Progress while the session runs, then its report (raises SessionFailed)."""
        await self._require(session_id)
        heavy = await self.is_heavy(session_id)
        result = asyncio.ensure_future(self.result(session_id))
        try:
            while not result.done():
                progress = await self.progress(session_id, heavy)
                if progress is not None:
                    yield progress
                await asyncio.wait({result}, timeout=interval)
            yield await result
        finally:
            result.cancel()

    async def result(self, session_id: str) -> ResearchReport:
        """Wait for the session's report; SessionFailed with its root cause if it failed."""
        try:
            return await self._handle(session_id).result()
        except WorkflowFailureError as error:
            raise SessionFailed(f"session {session_id} failed: {root_message(error)}") from None

    async def _running(self, session_id: str) -> WorkflowHandle[Any, Any]:
        status = await self._require(session_id)
        if status != "running":
            raise SessionConflict(f"session {session_id} is not running (it is {status})")
        return self._handle(session_id)

    async def cancel(self, session_id: str, reason: str = "") -> None:
        """Stop gracefully: no more tool calls, the best answer from what it has."""
        handle = await self._running(session_id)
        await handle.signal(ResearchWorkflow.cancel, reason)

    async def steer(self, session_id: str, note: str) -> None:
        """An operator's note, seen by the model before its next turn."""
        if not note.strip():
            raise InvalidRequest("the note is empty")
        handle = await self._running(session_id)
        await handle.signal(ResearchWorkflow.steer, note)

    async def add_budget(self, session_id: str, add: Budget) -> Budget:
        """Raise a running session's budget (a top-up); one waiting for it goes on. Answers
        the budget now."""
        if await self.is_heavy(session_id):
            raise SessionConflict(heavy_parent(session_id, "top up"))
        handle = await self._running(session_id)
        try:
            return await handle.execute_update(ResearchWorkflow.add_budget, add)
        except WorkflowUpdateFailedError as error:
            raise InvalidRequest(root_message(error)) from None

    async def approve(self, session_id: str, approval: Approval) -> Plan:
        """Approve a session's plan (edited, with answers); it researches with it at once."""
        handle = await self._planning(session_id)
        return await self._decide(handle.execute_update(ResearchWorkflow.approve, approval))

    async def reject(self, session_id: str, reason: str = "") -> Plan:
        """Reject a session's plan: it ends before it researches (termination `rejected`)."""
        handle = await self._planning(session_id)
        return await self._decide(handle.execute_update(ResearchWorkflow.reject, reason))

    async def _planning(self, session_id: str) -> WorkflowHandle[Any, Any]:
        if await self.is_heavy(session_id):
            raise SessionConflict(f"session {session_id} is a Heavy session; it has no plan")
        return await self._running(session_id)

    async def _decide(self, update: Awaitable[Plan]) -> Plan:
        try:
            return await update
        except WorkflowUpdateFailedError as error:
            message = root_message(error)
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == NotWaiting.__name__:
                raise SessionConflict(message) from None
            raise InvalidRequest(message) from None

    async def usage(self, since: str = "30d", tenant: str | None = None) -> list[UsageRow]:
        """What sessions started in the last `since` spent, per tenant and model."""
        return await usage_rows(self.client, datetime.now(UTC) - parse_age(since), tenant)

    async def list(
        self,
        status: str | None = None,
        since: str | None = None,
        text: str | None = None,
        limit: int = 50,
        tenant: str | None = None,
    ) -> list[SessionRow]:
        """Sessions newest first, by status, age ('2h'), words in the question and tenant."""
        rows = []
        query = list_query(status, since, text, tenant)
        async for execution in self.client.list_workflows(query, limit=limit):
            rows.append(session_row(execution))
        return rows

    async def histories(self, session_id: str) -> list[WorkflowHistory]:
        try:
            return await session_histories(self.client, session_id)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise SessionNotFound(session_id) from None
            raise

    async def timeline(self, session_id: str, links: bool = True) -> dict[str, Any]:
        """What `show --json` prints: the steps and the outcome, from the history; while it
        runs, its live progress too (what it spent, whether it waits for budget); with
        `links`, its follow-up links (a visibility query: pollers of steps leave them out)."""
        histories = await self.histories(session_id)
        timeline = await read_timeline(self.client, histories)
        if timeline.get("status") == "running" and not await self.is_heavy(session_id):
            progress = await self.progress(session_id, heavy=False)
            if isinstance(progress, Progress):
                timeline["progress"] = progress.model_dump()
        sent = await webhook_deliveries(self.client, histories)
        if sent:
            timeline["webhooks"] = sent
        if not links:
            return timeline
        found = await self.links(session_id)
        if (found.get("forked_from") or {}).get("step"):
            timeline["steps"] = [*await self._taken_over(found["forked_from"]), *timeline["steps"]]
        return {**timeline, **found}

    async def _fork_synthesis(
        self, session_id: str, status: str, options: inputs.ForkOptions, new_id: str
    ) -> Started:
        """A new Heavy session whose branches are the original's that answered (their
        records: none runs again), its branch reports and integration run again with the
        synthesis and model asked for."""
        if options.at_step is not None:
            raise SessionConflict(
                heavy_parent(session_id, "fork") + " at a step; or fork its synthesis: "
                "--synthesis select|fuse without --at-step"
            )
        if options.question or options.strategy or options.dialect:
            raise InvalidRequest(
                "a synthesis fork changes only the synthesis and the model (its branches are "
                "the original's)"
            )
        if status != "completed":
            raise SessionConflict(
                f"session {session_id} is {status}; a synthesis forks from a completed one"
            )
        original = HeavyInput.model_validate(
            await first_input(self.client, await self.histories(session_id))
        )
        taken = []
        for k in range(original.branches):
            try:
                report = await self.result(f"{session_id}-b{k}")
            except SessionError:
                continue  # a branch that failed: the original left it out too
            if usable(report.answer, report.termination) and report.trajectory is not None:
                taken.append(report)
        if not taken:
            raise SessionConflict(f"session {session_id} has no answered branch to synthesise")
        tenant = options.tenant or await self.owner(session_id)
        await check_tenant_budget(self.client, self.settings, tenant, datetime.now(UTC))
        session = original.session.model_copy(
            update={"tenant": tenant, "webhook": None, "schedule": None, "report": options.report}
        )
        request = original.model_copy(
            update={
                "session": session,
                "taken": taken,
                "forked_from": session_id,
                "model": options.model,
                "synthesis": options.synthesis or original.synthesis,
                "task_queue": self.settings.task_queue,
            }
        )
        await self._start_owned(
            HeavyWorkflow.run, request, session, id=new_id, synthesis_of=session_id
        )
        return Started(new_id, "started", heavy=True)

    async def compare(self, a: str, b: str) -> dict[str, Any]:
        """Two single sessions side by side from where they diverge (`compare`)."""
        for session_id in (a, b):
            await self._require(check_session_id(session_id))
            if await self.is_heavy(session_id):
                raise SessionConflict(heavy_parent(session_id, "compare"))
        left, right = await asyncio.gather(self.timeline(a), self.timeline(b))
        return compare_sessions(a, left, b, right)

    async def _taken_over(self, origin: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
        """A fork's first steps, as the sessions that ran them recorded them (each marked
        `from` that session: a fork of a fork has some from each); none when a history is
        gone (past the namespace's retention)."""
        try:
            histories = await self.histories(origin["session"])
            earlier = await self._origin(origin["session"])
        except SessionNotFound:
            return []
        taken = await read_timeline(self.client, histories, until_step=origin["step"])
        own = [{**step, "from": origin["session"]} for step in taken["steps"]]
        if earlier is None or not earlier["step"] or depth >= MAX_FORK_DEPTH:
            return own
        return [*await self._taken_over(earlier, depth + 1), *own]

    async def _origin(self, session_id: str) -> dict[str, Any] | None:
        """The session and step a session was forked from (its memo), or None."""
        return fork_origin(await (await self.describe(session_id)).memo())

    async def links(self, session_id: str, memo: dict[str, Any] | None = None) -> dict[str, Any]:
        """A session's links, both ways: the session it follows (`follow_up_of`) and its own
        follow-ups (`follow_ups`); the session and step it was forked from (`forked_from`) and
        its own forks (`forks`); only those that exist. `memo`: the session's, when the caller
        has it already."""
        if memo is None:
            memo = await (await self.describe(session_id)).memo()
        links: dict[str, Any] = {}
        if isinstance(memo.get(FOLLOW_UP_MEMO), str):
            links["follow_up_of"] = memo[FOLLOW_UP_MEMO]
        origin = fork_origin(memo)
        if origin is not None:
            links["forked_from"] = origin
        follow_ups, forks = await asyncio.gather(
            self.follow_ups(session_id), self.forks(session_id)
        )
        if follow_ups:
            links["follow_ups"] = follow_ups
        if forks:
            links["forks"] = forks
        return links

    async def settle_webhooks(self, session_id: str, timeout: float) -> list[dict[str, Any]]:
        """Wait up to `timeout` s for the session's webhook messages to be delivered (or to
        fail for good): `ask`'s own worker delivers them before it stops. Answers those still
        being tried (another worker goes on with them)."""
        try:
            memo = await (await self.describe(session_id)).memo()
        except SessionError:
            return []
        if not memo.get(WEBHOOK_MEMO):
            return []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            trying = [w for w in await self.webhooks(session_id) if w["state"] == "delivering"]
            if not trying or asyncio.get_running_loop().time() >= deadline:
                return trying
            await asyncio.sleep(0.2)

    async def webhooks(self, session_id: str) -> list[dict[str, Any]]:
        """How each webhook message of the session fared (delivered, trying, failed)."""
        return await webhook_deliveries(self.client, await self.histories(session_id))

    async def export(self, session_id: str) -> dict[str, Any]:
        """The session in the reference's record format (question, messages, prediction,
        termination)."""
        record = await tongyi_record(self.client, await self.histories(session_id))
        if record is None and await self.is_heavy(session_id):
            raise SessionConflict(heavy_parent(session_id, "export"))
        if record is None:
            raise SessionConflict(f"session {session_id} has not completed; nothing to export")
        return {**record, **await self.links(session_id)}

    async def bundle(self, session_id: str) -> bytes:
        """The completed session's provenance bundle, as zip bytes (`workers/client/bundle.py`
        says what it holds)."""
        from workers.client.bundle import BundleInput, build

        if await self.is_heavy(session_id):
            raise SessionConflict(heavy_parent(session_id, "bundle"))
        histories = await self.histories(session_id)
        report = await final_report(self.client, histories)
        if report is None:
            raise SessionConflict(f"session {session_id} has not completed; nothing to bundle")
        reads = await page_reads(self.client, histories)
        pages: dict[str, bytes | None] = {}
        for digest in {read["blob"] for read in reads if read["blob"]}:
            try:
                pages[digest] = await self.blobs.get_async(digest)
            except (KeyError, ValueError):  # collected since: the bundle says it is missing
                pages[digest] = None
        data = BundleInput(
            session_id=session_id,
            request=await first_input(self.client, histories),
            report=report,
            reads=reads,
            pages=pages,
            histories=[(history.run_id, history.to_json()) for history in histories],
            created_at=datetime.now(UTC),
        )
        return await asyncio.to_thread(build, data)

    async def completed(self) -> list[str]:
        """Ids of every completed single session (`export --all`)."""
        query = "WorkflowType = 'ResearchWorkflow' AND ExecutionStatus = 'Completed'"
        return [execution.id async for execution in self.client.list_workflows(query)]


def validate(settings: Settings, options: AskOptions) -> None:
    """Check a new session's options without Temporal (InvalidRequest in one line), so a bad
    question fails before anything is started or connected."""
    try:
        options = AskOptions.model_validate(options.model_dump())
    except ValidationError as error:
        raise InvalidRequest(inputs.one_line(error)) from None
    if options.mode != "heavy" and len(options.strategies) > 1:
        raise InvalidRequest("a list of strategies needs Heavy mode")
    inputs.research_input(settings, options, {})


def read_blob(settings: Settings, digest: str) -> bytes:
    """A page or file stored whole; the timeline holds its digest."""
    try:
        return blob_store(settings).get(digest)
    except (KeyError, ValueError) as error:
        raise InvalidRequest(str(error).strip("'")) from None
