"""The web page at `/`: server-rendered HTML (Jinja2, autoescaped: model and page text is
hostile) over the same session layer, with a small script for the live parts (static/app.js):
ask, watch, read the answer and report, browse past sessions, cancel or steer."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from workers.api.auth import COOKIE, Authenticator, Caller, Forbidden, Unauthorized
from workers.api.markdown import report_html
from workers.api.routes import sessions as sessions_of
from workers.boundary.web_session import (
    CSRF_COOKIE,
    form_token_matches,
    new_form_token,
    sign_out_token,
)
from workers.client import SessionError, list_page, session_view
from workers.client.schedules import Schedules
from workers.client.sessions import STATUSES

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)
# No inline script or style, nothing from elsewhere: a page's hostile text cannot run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _page(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    cookie = request.cookies.get(COOKIE)
    context.setdefault("sign_out", sign_out_token(cookie) if cookie else "")
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def _signed_in(request: Request) -> Caller | Response:
    """Whom the page is for; else the way to the sign-in form."""
    authenticator: Authenticator = request.app.state.auth
    try:
        return authenticator.check(request)
    except (Unauthorized, Forbidden):
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)


@router.get("/", response_class=HTMLResponse)
async def index(
    request: Request,
    status: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query()] = None,
    since: Annotated[str | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> Response:
    caller = _signed_in(request)
    if isinstance(caller, Response):
        return caller
    filters = {"status": status or "", "q": q or "", "since": since or ""}
    page, error = None, None
    try:
        mine = None if caller.admin else caller.tenant
        page = await list_page(sessions_of(request), status or None, since or None, q or None,
                               25, cursor or None, mine)  # fmt: skip
    except SessionError as failure:
        error = str(failure)
    return _page(
        request,
        "index.html",
        page=page,
        error=error,
        filters=filters,
        statuses=list(STATUSES),
        signed_in=request.app.state.auth.enabled,
    )


@router.get("/schedules", response_class=HTMLResponse)
async def schedules_page(request: Request) -> Response:
    """The caller's schedules (an admin's: all), each with its runs, and a form for a new one."""
    caller = _signed_in(request)
    if isinstance(caller, Response):
        return caller
    found = Schedules(sessions_of(request))
    views, error = [], None
    try:
        listed = await found.list(None if caller.admin else caller.tenant)
        views = [await found.show(view.id) for view in listed]
    except SessionError as failure:
        error = str(failure)
    return _page(request, "schedules.html", schedules=views, error=error,
                 signed_in=request.app.state.auth.enabled)  # fmt: skip


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(request: Request, session_id: str) -> Response:
    caller = _signed_in(request)
    if isinstance(caller, Response):
        return caller
    try:
        await sessions_of(request).check_access(caller, session_id)
        view = await session_view(sessions_of(request), session_id)
    except SessionError as failure:
        return _page(request, "missing.html", status=failure.http_status, error=str(failure))
    return _page(request, "session.html", view=view, **_outcome(view.result),
                 signed_in=request.app.state.auth.enabled)  # fmt: skip


def _outcome(result: dict | None) -> dict[str, object]:
    """The report as safe HTML, and the status to show: a session stopped by cancel completed
    (with the best answer it had), shown as `cancelled`."""
    shown = "cancelled" if result and result.get("termination") == "cancelled" else None
    if not result or not result.get("report_markdown"):
        return {"report": None, "report_sources": [], "shown_status": shown}
    body, sources = report_html(result["report_markdown"])
    return {"report": body, "report_sources": sources, "shown_status": shown}


@router.get("/sessions/{session_id}/outcome", response_class=HTMLResponse)
async def outcome(request: Request, session_id: str) -> Response:
    """The answer, sources and report as an HTML fragment (the page fetches it at the end)."""
    caller = request.app.state.auth.check(request)
    await sessions_of(request).check_access(caller, session_id)
    view = await session_view(sessions_of(request), session_id)
    return _page(request, "outcome.html", view=view, **_outcome(view.result))


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> Response:  # noqa: A002
    return _login_page(request, next)


def _login_page(
    request: Request, next_: str, status: int = 200, error: str | None = None
) -> Response:
    """The sign-in form with a fresh CSRF token, also set as a SameSite=Strict cookie."""
    token = new_form_token()
    response = _page(request, "login.html", status=status, next=_local(next_), error=error,
                     csrf=token)  # fmt: skip
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=3600)  # fmt: skip
    return response


def _local(target: str) -> str:
    """Only a path on this site (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    key: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",  # noqa: A002
    csrf: Annotated[str, Form()] = "",
) -> Response:
    authenticator: Authenticator = request.app.state.auth
    if not form_token_matches(csrf, request.cookies.get(CSRF_COOKIE)):
        return _login_page(request, next, 403, "The sign-in form expired; try again.")
    if not authenticator.enabled:
        return RedirectResponse(_local(next), status_code=303)
    key = key.strip()
    if not authenticator.valid_key(key, request):
        return _login_page(request, next, 403, "This API key is not accepted.")
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        COOKIE,
        authenticator.web.issue(key),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=int(authenticator.web.max_age),
    )
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Sign out: the cookie is revoked server-side (a copy of it no longer works)."""
    cookie = request.cookies.get(COOKIE)
    if cookie and not hmac.compare_digest(csrf, sign_out_token(cookie)):
        raise Forbidden("the sign-out form is not this site's; sign out from the page")
    if cookie:
        request.app.state.auth.web.revoke(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
