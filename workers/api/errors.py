"""Every failure as JSON `{"error": "<one sentence>"}` with its status, never a traceback:
the session layer's errors carry their `http_status`; bad requests are 422; Temporal's own
errors 503; anything unexpected a logged 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from temporalio.service import RPCError

from workers.api.auth import FailedAuth, Forbidden, Unauthorized
from workers.client import SessionError

log = logging.getLogger(__name__)
REASONS = {
    400: "bad request",
    401: "an API key is required",
    403: "forbidden",
    404: "no such resource",
    405: "method not allowed",
    409: "conflict",
    413: "the request is too large",
    415: "unsupported content type",
    429: "too many requests",
    422: "invalid request",
    500: "internal error",
    503: "service unavailable",
}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    sentence = " ".join(message.split()) or REASONS.get(status, "error")
    return JSONResponse({"error": sentence}, status_code=status, headers=headers)


def validation_sentence(error: RequestValidationError) -> str:
    """The first problem of a request FastAPI refused, as `where: what`."""
    first = error.errors()[0] if error.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def install(app: FastAPI) -> None:
    @app.exception_handler(SessionError)
    async def session_error(_: Request, error: SessionError) -> JSONResponse:
        return error_response(error.http_status, str(error))

    @app.exception_handler(Unauthorized)
    async def unauthorized(_: Request, error: Unauthorized) -> JSONResponse:
        return error_response(401, str(error), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, error: Forbidden) -> JSONResponse:
        return error_response(403, str(error))

    @app.exception_handler(FailedAuth)
    async def throttled(_: Request, error: FailedAuth) -> JSONResponse:
        return error_response(429, str(error), {"Retry-After": str(error.retry_after)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, validation_sentence(error))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        detail = error.detail if isinstance(error.detail, str) else ""
        if detail in ("Not Found", "Method Not Allowed", ""):
            detail = REASONS.get(error.status_code, "error")
        return error_response(error.status_code, detail, getattr(error, "headers", None))

    @app.exception_handler(RPCError)
    async def temporal_error(_: Request, error: RPCError) -> JSONResponse:
        return error_response(503, f"Temporal: {error.message}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        if isinstance(error, ClientDisconnect):  # gone, or cut off by the body cap (413 sent)
            return error_response(400, "the client disconnected")
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; the server log has the details")
