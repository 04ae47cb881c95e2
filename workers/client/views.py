"""Read-only views of sessions for interfaces that answer requests (the HTTP API, the MCP
server): one session's state and result, a page of the session list, Temporal's health."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio.service import RPCError, RPCStatusCode

from workers.client.errors import InvalidRequest, SessionFailed
from workers.client.sessions import (
    WEBHOOK_MEMO,
    HeavyLive,
    SessionRow,
    Sessions,
    list_query,
    session_row,
    status_name,
)
from workers.workflows.heavy import HeavyWorkflow
from workers.workflows.models import Progress, ResearchReport

# The report fields a view leaves out: the conversation and ledger can be megabytes (`export`
# and `timeline` give them).
BULKY = {"trajectory", "ledger", "tail"}
MAX_PAGE = 200


class SessionView(BaseModel):
    """One session as an interface shows it: while it runs, its live progress; once it ended,
    its result (answer, sources, termination, counts, report) or why it failed."""

    session_id: str
    status: str = Field(description="running, completed, failed, terminated, timed_out, ...")
    heavy: bool = False
    question: str = ""
    model: str | None = None
    started: str = ""
    closed: str | None = None
    progress: dict[str, Any] | None = Field(
        None, description="Live progress while running (null before a worker picked it up)."
    )
    result: dict[str, Any] | None = Field(
        None, description="The report once completed: answer, sources, termination, counts."
    )
    error: str | None = Field(None, description="Why it failed, once failed or terminated.")
    webhooks: list[dict[str, Any]] | None = Field(
        None, description="Its webhook messages: event, id, delivered / delivering / failed."
    )
    follow_up_of: str | None = Field(None, description="The session this one follows up.")
    follow_ups: list[str] = Field(
        default_factory=list, description="This session's follow-ups, oldest first."
    )
    forked_from: dict[str, Any] | None = Field(
        None, description="A fork's original: {session, step} (its steps 1..step are those)."
    )
    forks: list[str] = Field(
        default_factory=list, description="This session's forks, oldest first."
    )
    plan: dict[str, Any] | None = Field(
        None,
        description="`plan: true`: the drafted plan, its clarifying questions, the answers and "
        "the decision (awaiting_approval, approved, proceeded, rejected, skipped).",
    )


class SessionPage(BaseModel):
    """A page of `list`: newest first; `next_cursor` fetches the next page (null: the last)."""

    sessions: list[SessionRow]
    next_cursor: str | None = None


def progress_data(progress: Progress | HeavyLive) -> dict[str, Any]:
    """A session's live progress as JSON: `kind` research (one loop) or heavy (its branches,
    with each running branch's own progress under `running`)."""
    if isinstance(progress, HeavyLive):
        running = {str(k): v.model_dump() for k, v in progress.running.items()}
        return {"kind": "heavy", **progress.progress.model_dump(), "running": running}
    return {"kind": "research", **progress.model_dump()}


def report_data(report: ResearchReport) -> dict[str, Any]:
    return report.model_dump(exclude=BULKY)


async def session_view(sessions: Sessions, session_id: str) -> SessionView:
    """The session's state from one describe, plus its progress (running) or result (ended)."""
    execution = await sessions.describe(session_id)
    row = session_row(execution)
    view = SessionView(
        session_id=session_id,
        status=status_name(execution.status),
        heavy=execution.workflow_type == HeavyWorkflow.__name__,
        question=row.question,
        model=row.model,
        started=row.started,
        closed=execution.close_time.isoformat() if execution.close_time else None,
    )
    if view.status == "running":
        progress = await sessions.progress(session_id, view.heavy)
        view.progress = progress_data(progress) if progress is not None else None
    elif view.status != "continued_as_new":
        try:
            report = await sessions.result(session_id)
        except SessionFailed as error:
            view.error = str(error)
        else:
            view.result = report_data(report)
            view.question = view.question or report.question
    found = (view.progress or {}).get("plan") or (view.result or {}).get("plan")
    view.plan = found if isinstance(found, dict) else None
    memo = await execution.memo()
    links = await sessions.links(session_id, memo)
    view.follow_up_of = links.get("follow_up_of")
    view.follow_ups = links.get("follow_ups") or []
    view.forked_from = links.get("forked_from")
    view.forks = links.get("forks") or []
    if memo.get(WEBHOOK_MEMO):
        view.webhooks = await sessions.webhooks(session_id)
    return view


CURSOR_MARK = b"dr1:"  # so a cursor that is not one of ours is refused, not half-read


def _token(cursor: str | None) -> bytes | None:
    if not cursor:
        return None
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(CURSOR_MARK) or len(raw) == len(CURSOR_MARK):
        raise InvalidRequest("invalid cursor: pass the next_cursor of the previous page")
    return raw[len(CURSOR_MARK) :]


def _cursor(token: bytes | None) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(CURSOR_MARK + token).decode().rstrip("=")


async def list_page(
    sessions: Sessions,
    status: str | None = None,
    since: str | None = None,
    text: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    tenant: str | None = None,
) -> SessionPage:
    """One page of sessions, newest first, filtered as `list` filters (`tenant` None: all)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
    query = list_query(status, since, text, tenant)
    listing = sessions.client.list_workflows(query, page_size=limit, next_page_token=_token(cursor))
    try:
        await listing.fetch_next_page()
    except RPCError as error:
        if error.status == RPCStatusCode.INVALID_ARGUMENT and cursor:
            raise InvalidRequest(
                "invalid cursor: pass the next_cursor of the previous page"
            ) from None
        raise
    rows = [session_row(execution) for execution in listing.current_page or []]
    return SessionPage(sessions=rows, next_cursor=_cursor(listing.next_page_token))


async def temporal_reachable(sessions: Sessions, timeout: float = 2.0) -> bool:
    """Whether Temporal's frontend answers a health check within `timeout` seconds."""
    try:
        return await sessions.client.service_client.check_health(timeout=timedelta(seconds=timeout))
    except RPCError:
        return False
