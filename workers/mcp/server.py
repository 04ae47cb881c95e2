"""The MCP server: tools that run, start and read research sessions, and each session's report
as a resource; all of it through the session layer (`workers.client`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import Field, ValidationError

from graphs.budget import Budget, OnBudget
from graphs.plan import Approval, Plan
from workers.boundary.guard import CALLER
from workers.boundary.keys import OPERATOR, Caller
from workers.client import (
    AskOptions,
    HeavyLive,
    InvalidRequest,
    SessionFailed,
    SessionNotFound,
    Sessions,
    validate,
)
from workers.client.inputs import ForkOptions, one_line
from workers.mcp import results
from workers.mcp.backend import Backend
from workers.mcp.errors import argument_error, resource_errors, tool_errors
from workers.workflows.models import Progress, ResearchReport

INSTRUCTIONS = """\
Deep research on the web: each question becomes a durable research session that searches,
reads pages and answers with its sources. `deep_research` waits for the answer (minutes; it
sends progress). Where a call must not block, `start_research` returns a session id at once
and `get_research` reports its progress, then its answer. With `plan=true` the session first
drafts a research plan and waits: `approve_plan` (edited, with answers) or `reject_plan`.
`follow_up` asks a new question of a completed session, starting from its conversation.
Every session's report is the resource deepresearch://sessions/{id}/report."""

Question = Annotated[str, Field(description="What to research, as a full question.")]
Mode = Annotated[
    Literal["react", "heavy"],
    Field(description="react: one session; heavy: parallel branches, then a synthesis."),
]
Report = Annotated[
    bool, Field(description="Also write a long-form report with citations (the resource).")
]
# Ids that fit the report resource's URI as one path segment.
SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
SessionId = Annotated[str, Field(description="The session id start_research returned.")]


# Starting research spends the deployment's model and search credit and records a session:
# not read-only (a client may ask before calling), though nothing existing is changed.
STARTS_A_SESSION = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)


class ResearchServer(MCPServer[Any]):
    """MCPServer whose schema errors are one line, like every other error of ours."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as error:
            raise argument_error(name, error) or error from None


PROGRESS_WAIT_SECONDS = 3.0


async def live_progress(sessions: Sessions, session_id: str) -> Progress | HeavyLive | None:
    """The session's progress query, or None when no worker answers it soon: a query waits
    for a worker, and with none polling the session's queue it would hold the call for long."""
    try:
        return await asyncio.wait_for(sessions.progress(session_id), PROGRESS_WAIT_SECONDS)
    except TimeoutError:
        return None


def caller_of(ctx: Context[Any, Any]) -> Caller:
    """Whom a call acts for: the tenant whose key the HTTP request carried (RequireKey put it
    in the request's state); over stdio, or HTTP without keys, the operator."""
    try:
        request = ctx.request_context.request
    except (ValueError, AttributeError):
        return OPERATOR
    state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
    caller = state.get(CALLER, OPERATOR)
    return caller if isinstance(caller, Caller) else OPERATOR


def ask_options(
    backend: Backend,
    question: str,
    mode: str,
    report: bool,
    caller: Caller = OPERATOR,
    budget: Budget | None = None,
    on_budget: OnBudget | None = None,
    plan: bool = False,
) -> AskOptions:
    options = AskOptions(
        question=question,
        mode=mode,  # type: ignore[arg-type]
        report=report,
        tenant=caller.tenant,
        budget=budget or Budget(),
        on_budget=on_budget,
        plan=plan,
    )
    validate(backend.settings, options)  # bad input fails before Temporal is asked
    return options


class ProgressReporter:
    """MCP progress notifications from the session layer's updates: one per change, with an
    increasing count (as the protocol requires) and a one-line message."""

    def __init__(self, context: Context[Any, Any], session_id: str) -> None:
        self.context = context
        self.session_id = session_id
        self.count = 0
        self.last = ""

    async def send(self, line: str) -> None:
        if line != self.last:
            self.last = line
            await self.context.report_progress(self.count, message=line)
            self.count += 1

    async def follow(self, sessions: Sessions) -> ResearchReport:
        async for update in sessions.watch(self.session_id):
            if isinstance(update, ResearchReport):
                return update
            await self.send(results.progress_message(self.session_id, update))
        raise SessionFailed(f"session {self.session_id} ended without a report")


def build_server(backend: Backend) -> MCPServer[Any]:
    """The server over `backend`; entering the server's lifespan enters the backend."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[Backend]:
        async with backend:
            yield backend

    server = ResearchServer("deepresearch", instructions=INSTRUCTIONS, lifespan=lifespan)

    @server.tool(annotations=STARTS_A_SESSION)
    async def deep_research(
        question: Question,
        ctx: Context[Any, Any],
        mode: Mode = "react",
        report: Report = False,
    ) -> Annotated[CallToolResult, results.ResearchResult]:
        """Research a question to the end and return the answer, its sources and the session
        id. Takes minutes; sends progress while it runs (the session survives a dropped
        call: get_research with the id from the first progress message)."""
        with tool_errors():
            options = ask_options(backend, question, mode, report, caller_of(ctx))
            sessions = await backend.sessions()
            await backend.ready_to_start()
            started = await sessions.start(options)
            reporter = ProgressReporter(ctx, started.session_id)
            await reporter.send(f"{started.session_id}: {started.status}")
            return results.result_content(await reporter.follow(sessions))

    @server.tool(annotations=STARTS_A_SESSION)
    async def start_research(
        question: Question,
        ctx: Context[Any, Any],
        mode: Mode = "react",
        report: Report = False,
        id: Annotated[
            str | None,
            Field(
                description="Session id (letters, digits, '.', '_', '-'); an id already in "
                "use attaches to that session.",
                pattern=SESSION_ID_PATTERN,
            ),
        ] = None,
        budget: Annotated[
            Budget | None,
            Field(description="What it may spend: tokens, usd, searches, pages (each optional)."),
        ] = None,
        on_budget: Annotated[
            OnBudget | None,
            Field(description="answer: the best answer when it runs out; pause: wait for more."),
        ] = None,
        plan: Annotated[
            bool,
            Field(
                description="Draft a research plan first and wait for approve_plan or "
                "reject_plan (get_research shows the plan and its clarifying questions)."
            ),
        ] = False,
    ) -> results.Started:
        """Start a research session and return its id at once; get_research reads its
        progress and, when done, its answer."""
        with tool_errors():
            options = ask_options(
                backend, question, mode, report, caller_of(ctx), budget, on_budget, plan
            )
            sessions = await backend.sessions()
            await backend.ready_to_start()
            started = await sessions.start(options, id or None)
            return results.Started(session_id=started.session_id, status=started.status)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def get_research(
        id: SessionId, ctx: Context[Any, Any]
    ) -> Annotated[CallToolResult, results.ResearchStatus]:
        """A session's status: its live progress while it runs, then its answer and sources
        (or why it stopped)."""
        with tool_errors():
            sessions = await backend.sessions()
            await sessions.check_access(caller_of(ctx), id)
            status = await sessions.status(id)
            if status is None:
                raise SessionNotFound(id)
            if status == "running":
                return results.status_content(id, status, live=await live_progress(sessions, id))
            try:
                report = await sessions.result(id)
            except SessionFailed as error:
                return results.status_content(id, status, error=str(error))
            return results.status_content(id, status, report=report)

    @server.tool(annotations=STARTS_A_SESSION)
    async def follow_up(
        id: SessionId, question: Question, ctx: Context[Any, Any]
    ) -> results.Started:
        """Ask a follow-up question of a completed session: a new session that starts from
        its conversation and the pages it read (not fetched again); returns its id at once,
        get_research reads it."""
        with tool_errors():
            caller = caller_of(ctx)
            options = ask_options(backend, question, "react", False, caller)
            options = options.model_copy(update={"follow_up_of": id})
            sessions = await backend.sessions()
            await sessions.check_access(caller, id)
            await backend.ready_to_start()
            started = await sessions.start(options)
            return results.Started(session_id=started.session_id, status=started.status)

    @server.tool(annotations=STARTS_A_SESSION)
    async def fork_research(
        id: SessionId,
        at_step: Annotated[
            int, Field(ge=1, description="The last step of the session the fork takes over.")
        ],
        ctx: Context[Any, Any],
        model: Annotated[
            str | None, Field(description="The model name its own turns ask for.")
        ] = None,
        question: Annotated[
            str | None, Field(description="A new question in place of the original's.")
        ] = None,
    ) -> results.Started:
        """Fork a session: a new one whose steps 1..at_step are this one's, from its record
        (nothing is sent again for them), live from the next step with the changes given;
        returns its id at once, get_research reads it."""
        with tool_errors():
            caller = caller_of(ctx)
            try:
                options = ForkOptions(
                    at_step=at_step, model=model, question=question, tenant=caller.tenant
                )
            except ValidationError as error:
                raise InvalidRequest(one_line(error)) from None
            sessions = await backend.sessions()
            await sessions.check_access(caller, id)
            await backend.ready_to_start()
            started = await sessions.fork(id, options, None)
            return results.Started(session_id=started.session_id, status=started.status)

    @server.tool()
    async def approve_plan(
        id: SessionId,
        ctx: Context[Any, Any],
        plan: Annotated[
            str | None,
            Field(description="The plan to research with, edited; left out: as drafted."),
        ] = None,
        answers: Annotated[
            list[str] | None,
            Field(description="Answers to the plan's clarifying questions, in their order."),
        ] = None,
    ) -> Plan:
        """Approve the research plan of a session started with plan=true; it researches with
        it (and the answers) at once."""
        with tool_errors():
            sessions = await backend.sessions()
            await sessions.check_access(caller_of(ctx), id)
            try:
                approval = Approval(plan=plan, answers=answers or [])
            except ValidationError as error:
                raise InvalidRequest(one_line(error)) from None
            return await sessions.approve(id, approval)

    @server.tool()
    async def reject_plan(
        id: SessionId,
        ctx: Context[Any, Any],
        reason: Annotated[str, Field(description="Why (kept in its history).")] = "",
    ) -> Plan:
        """Reject the research plan of a session started with plan=true: it ends before it
        researches."""
        with tool_errors():
            sessions = await backend.sessions()
            await sessions.check_access(caller_of(ctx), id)
            return await sessions.reject(id, reason)

    @server.resource(
        results.REPORT_URI,
        name="report",
        title="Research report",
        description="A finished session's report: the long-form report when one was asked "
        "(report=true), else the answer with its sources.",
        mime_type="text/markdown",
    )
    async def report(session_id: str, ctx: Context[Any, Any]) -> str:
        with resource_errors():
            sessions = await backend.sessions()
            await sessions.check_access(caller_of(ctx), session_id)
            status = await sessions.status(session_id)
            if status is None:
                raise SessionNotFound(session_id)
            if status == "running":
                raise ResourceError(
                    f"session {session_id} is still running; its report is ready when it "
                    "completes (see get_research)"
                )
            return results.report_markdown(await sessions.result(session_id))

    return server
