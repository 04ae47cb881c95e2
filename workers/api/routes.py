"""The /v1 endpoints and /healthz: parse the request, call the session layer, return its
result as JSON (the CLI's `ask`, `list`, `show --json`, `export`, `watch`, `cancel`, `steer` and
`resume`, over HTTP; `export --bundle` as a zip)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from graphs.budget import Budget
from graphs.plan import Approval
from workers.api.auth import Authenticator, Caller
from workers.api.backend import Backend
from workers.api.events import EventHub, last_event_id
from workers.api.schemas import (
    Accepted,
    BudgetOut,
    CancelRequest,
    ErrorOut,
    ForkedOut,
    ForkRequest,
    Health,
    PlanOut,
    RejectRequest,
    ResumedOut,
    SessionRequest,
    StartedOut,
    SteerRequest,
    TopUp,
    UsageOut,
    from_form,
)
from workers.client import (
    AskOptions,
    InvalidRequest,
    SessionNotFound,
    SessionPage,
    Sessions,
    SessionView,
    Started,
    list_page,
    session_view,
)
from workers.client.inputs import one_line
from workers.client.sessions import STATUSES

MAX_FILES = 32
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in {
        401: "No API key given.",
        403: "The API key is not accepted.",
        404: "No such session.",
        409: "The session is in the wrong state for this.",
        422: "Invalid request.",
        429: "Too many failed keys, or the tenant's day or month budget is spent.",
        503: "Temporal is unreachable.",
    }.items()
}


class JSONText(JSONResponse):
    """JSON of decoded history payloads, whatever they hold (as `show --json` prints them)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, default=str).encode()


def backend(request: Request) -> Backend:
    return request.app.state.backend


def sessions(request: Request) -> Sessions:
    return backend(request).sessions


def authenticated(request: Request) -> Caller:
    authenticator: Authenticator = request.app.state.auth
    return authenticator.check(request)


async def visible(
    session_id: str, request: Request, caller: Annotated[Caller, Depends(authenticated)]
) -> str:
    """The path's session id once the caller may see it: another tenant's session is 404,
    exactly as an unknown id."""
    await sessions(request).check_access(caller, session_id)
    return session_id


SessionsDep = Annotated[Sessions, Depends(sessions)]
CallerDep = Annotated[Caller, Depends(authenticated)]
Visible = Annotated[str, Depends(visible)]
router = APIRouter(prefix="/v1", dependencies=[Depends(authenticated)], responses=ERRORS)
health = APIRouter()


async def _multipart(request: Request) -> tuple[SessionRequest, list[tuple[str, BinaryIO]], Any]:
    """The form's fields as a SessionRequest and its files as spooled temporary files (the
    server writes each past 1 MiB to disk, so no upload is held in memory); the caller closes
    the form when done with them."""
    form = await request.form(max_files=MAX_FILES, max_fields=64)
    fields: dict[str, str] = {}
    uploads: list[tuple[str, BinaryIO]] = []
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if not value.filename and not value.size:
                    continue  # a form's empty file input
                if key not in ("files[]", "files", "file"):
                    raise InvalidRequest(f"unexpected file field {key!r}: send files as files[]")
                uploads.append((value.filename or "", value.file))
            elif key in fields:
                raise InvalidRequest(f"the field {key!r} is given twice")
            else:
                fields[key] = value
        return from_form(fields), uploads, form
    except BaseException:
        await form.close()
        raise


@router.post(
    "/sessions",
    status_code=202,
    response_model=StartedOut,
    summary="Start a session (or attach to the one with this id)",
    responses={200: {"model": StartedOut, "description": "Attached to an existing session."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/SessionRequest"}},
                "multipart/form-data": {
                    "schema": {"$ref": "#/components/schemas/SessionUpload"},
                    "encoding": {"files[]": {"contentType": "application/octet-stream"}},
                },
            },
        }
    },
)
async def create_session(
    request: Request, sessions: SessionsDep, caller: CallerDep
) -> JSONResponse:
    """202 with status `started` for a new session; the same `id` again answers 200 with the
    existing session's status (`running` or `completed`) and starts nothing. As multipart, the
    fields are the JSON body's (`limits` as a JSON string) plus files in `files[]`, for the
    parse_file tool, checked as `ask --file` checks them."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        body, uploads, form = await _multipart(request)
        try:
            options = body.options(caller.tenant)
            await _may_follow(sessions, caller, options)
            started = await sessions.start_with_uploads(options, uploads, body.id)
        finally:
            await form.close()
        return _started(started)
    if content_type.split(";")[0].strip() in ("application/json", ""):
        try:
            body = SessionRequest.model_validate_json(await request.body())
        except ValidationError as error:
            raise InvalidRequest(one_line(error)) from None
    else:
        raise InvalidRequest("send application/json or multipart/form-data")
    options = body.options(caller.tenant)
    await _may_follow(sessions, caller, options)
    return _started(await sessions.start(options, body.id))


async def _may_follow(sessions: Sessions, caller: Caller, options: AskOptions) -> None:
    """A follow-up of another tenant's session answers 404, as for an id that does not exist."""
    if options.follow_up_of is not None:
        await sessions.check_access(caller, options.follow_up_of)


def _started(started: Started) -> JSONResponse:
    out = StartedOut(id=started.session_id, status=started.status, heavy=started.heavy)
    return JSONResponse(
        out.model_dump(),
        status_code=202 if started.status == "started" else 200,
        headers={"Location": f"/v1/sessions/{started.session_id}"},
    )


@router.get("/sessions", response_model=SessionPage, summary="List sessions, newest first")
async def list_sessions(
    sessions: SessionsDep,
    caller: CallerDep,
    status: Annotated[str | None, Query(description=f"One of: {', '.join(STATUSES)}.")] = None,
    since: Annotated[str | None, Query(description="Started within, e.g. 30m, 2h, 7d.")] = None,
    q: Annotated[str | None, Query(description="Words in the question.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Rows per page.")] = 50,
    cursor: Annotated[str | None, Query(description="The previous page's next_cursor.")] = None,
    tenant: Annotated[
        str | None, Query(description="Admin tenants: only this tenant's sessions.")
    ] = None,
) -> SessionPage:
    """The caller's own sessions; an admin tenant's (DEEPRESEARCH_ADMIN_TENANTS) are all, or
    `tenant`'s."""
    if not caller.admin:
        tenant = caller.tenant  # a tenant lists its own, whatever it asks for
    return await list_page(sessions, status, since, q, limit, cursor, tenant)


@router.get(
    "/sessions/compare",
    summary="Two sessions side by side from where they diverge (what `compare --json` prints)",
    response_class=JSONText,
)
async def compare_sessions(
    sessions: SessionsDep,
    caller: CallerDep,
    a: Annotated[str, Query(description="A session id (e.g. the original).")],
    b: Annotated[str, Query(description="Another session id (e.g. its fork).")],
) -> JSONText:
    for session_id in (a, b):
        await sessions.check_access(caller, session_id)
    return JSONText(await sessions.compare(a, b))


@router.get("/sessions/{session_id}", response_model=SessionView, summary="One session")
async def get_session(session_id: Visible, sessions: SessionsDep) -> SessionView:
    """Status; while running, live progress; once ended, the answer, sources, termination,
    counts and report (`result`), or why it failed (`error`)."""
    return await session_view(sessions, session_id)


@router.get(
    "/sessions/{session_id}/timeline",
    summary="The session's steps and outcome (what `show --json` prints)",
    response_class=JSONText,
)
async def get_timeline(session_id: Visible, sessions: SessionsDep) -> JSONText:
    return JSONText({"session_id": session_id, **await sessions.timeline(session_id)})


@router.get(
    "/sessions/{session_id}/export",
    summary="The completed session in the reference's record format",
    response_class=JSONText,
)
async def get_export(session_id: Visible, sessions: SessionsDep) -> JSONText:
    return JSONText(await sessions.export(session_id))


@router.get(
    "/sessions/{session_id}/bundle",
    summary="The completed session's provenance bundle (a zip; `deepresearch verify` checks it)",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The bundle."}},
)
async def get_bundle(session_id: Visible, sessions: SessionsDep) -> Response:
    data = await sessions.bundle(session_id)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", session_id)  # a header value, whatever the id
    disposition = f'attachment; filename="{name}.zip"'
    return Response(
        data, media_type="application/zip", headers={"Content-Disposition": disposition}
    )


@router.get(
    "/sessions/{session_id}/events",
    summary="Server-sent events: progress, each finished step, the final result",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream."},
        204: {"description": "The stream already ended (Last-Event-ID: end)."},
    },
)
async def get_events(
    request: Request,
    session_id: Visible,
    sessions: SessionsDep,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id_query: Annotated[
        str | None, Query(alias="last_event_id", description="For clients without headers.")
    ] = None,
) -> Response:
    """Events `progress` (no id: a snapshot), `step` (id: its number, as `show` numbers it),
    then `result` or `failed` (id `end`). Reconnect with `Last-Event-ID` to resume after the
    last step seen: no step is missed or repeated, whichever API process answers."""
    try:
        after = last_event_id(last_event_id_header or last_event_id_query)
    except ValueError:
        raise InvalidRequest("Last-Event-ID must be a step number or 'end'") from None
    if await sessions.status(session_id) is None:
        raise SessionNotFound(session_id)
    if after is None:
        return Response(status_code=204)
    hub: EventHub = request.app.state.hub
    return StreamingResponse(
        hub.stream(sessions, session_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/sessions/{session_id}/cancel",
    status_code=202,
    response_model=Accepted,
    summary="Stop gracefully: no more tool calls, the best answer from what it has",
)
async def cancel(
    session_id: Visible, sessions: SessionsDep, body: CancelRequest | None = None
) -> Accepted:
    await sessions.cancel(session_id, body.reason if body else "")
    return Accepted(id=session_id, status="cancelling")


@router.post(
    "/sessions/{session_id}/steer",
    status_code=202,
    response_model=Accepted,
    summary="Send the model an operator's note, seen before its next turn",
)
async def steer(session_id: Visible, body: SteerRequest, sessions: SessionsDep) -> Accepted:
    await sessions.steer(session_id, body.note)
    return Accepted(id=session_id, status="steered")


@router.post(
    "/sessions/{session_id}/budget",
    response_model=BudgetOut,
    summary="Raise a running session's budget; one waiting for it goes on",
)
async def top_up(session_id: Visible, body: TopUp, sessions: SessionsDep) -> BudgetOut:
    """Adds to the bounds the session has (`{"usd": 2}`, `{"searches": 10}`); a session in
    `awaiting_budget` goes on from the step it paused at once the bound is lifted."""
    raised = await sessions.add_budget(session_id, Budget(**body.model_dump()))
    return BudgetOut(id=session_id, budget=raised)


@router.post(
    "/sessions/{session_id}/approve",
    response_model=PlanOut,
    summary="Approve a session's research plan (edited, with answers); it researches with it",
)
async def approve(session_id: Visible, body: Approval, sessions: SessionsDep) -> PlanOut:
    """For a session started with `"plan": true` while it is `awaiting_approval`: `plan` the
    edited plan (left out: as drafted), `answers` to its clarifying questions in order. 409
    when it is not waiting for a decision."""
    return PlanOut(id=session_id, plan=await sessions.approve(session_id, body))


@router.post(
    "/sessions/{session_id}/reject",
    response_model=PlanOut,
    summary="Reject a session's research plan: it ends before it researches",
)
async def reject(
    session_id: Visible, sessions: SessionsDep, body: RejectRequest | None = None
) -> PlanOut:
    plan = await sessions.reject(session_id, body.reason if body else "")
    return PlanOut(id=session_id, plan=plan)


@router.get("/usage", response_model=UsageOut, summary="What sessions spent, per tenant and model")
async def usage(
    sessions: SessionsDep,
    caller: CallerDep,
    since: Annotated[str, Query(description="How far back: 30m, 12h, 7d.")] = "30d",
    tenant: Annotated[
        str | None, Query(description="Admin tenants: only this tenant's sessions.")
    ] = None,
) -> UsageOut:
    """Tokens, searches, pages and dollars of the sessions started since `since`: the caller's
    own; an admin tenant's are everyone's, or `tenant`'s."""
    if not caller.admin:
        tenant = caller.tenant
    rows = await sessions.usage(since, tenant)
    return UsageOut(since=since, usage=[row.model_dump() for row in rows])  # type: ignore[misc]


@router.post(
    "/sessions/{session_id}/fork",
    status_code=202,
    response_model=ForkedOut,
    summary="A new session whose first steps are this one's, live from the next with changes",
)
async def fork(
    session_id: Visible, body: ForkRequest, sessions: SessionsDep, caller: CallerDep
) -> JSONResponse:
    """Steps 1..`at_step` are taken from this session's record (nothing is sent again for
    them); the fork goes on live from the next step with the model, strategy, dialect or
    question given, as the caller's tenant's session."""
    started = await sessions.fork(session_id, body.options(caller.tenant), body.id)
    out = ForkedOut(
        id=started.session_id,
        forked_from=session_id,
        at_step=body.at_step,
        heavy=started.heavy,
        live_from=started.resumed_at,
    )
    return JSONResponse(
        out.model_dump(), status_code=202, headers={"Location": f"/v1/sessions/{out.id}"}
    )


@router.post(
    "/sessions/{session_id}/resume",
    status_code=202,
    response_model=ResumedOut,
    summary="Continue a failed or terminated session from its last model call",
)
async def resume(session_id: Visible, sessions: SessionsDep) -> ResumedOut:
    started = await sessions.resume(session_id)
    return ResumedOut(id=session_id, resumed_at=started.resumed_at)


@health.get(
    "/healthz",
    response_model=Health,
    summary="Whether Temporal is reachable",
    responses={503: {"model": Health, "description": "Temporal is unreachable."}},
)
async def healthz(request: Request) -> JSONResponse:
    link = backend(request)
    reachable = await link.healthy()
    body = Health(
        status="ok" if reachable else "unavailable",
        temporal="reachable" if reachable else "unreachable",
        worker=link.worker,
    )
    return JSONResponse(body.model_dump(), status_code=200 if reachable else 503)
