"""Who may call the API: a bearer key of DEEPRESEARCH_API_KEYS, or the web page's signed
sign-in cookie (`workers.boundary.web_session`) with its CSRF header on anything that changes
state. Failed key checks are throttled per client address."""

from __future__ import annotations

from fastapi import Request

from workers.boundary.guard import CSRF_HEADER, SAFE_METHODS
from workers.boundary.keys import OPERATOR, Caller, FailedAuth, KeyRing
from workers.boundary.web_session import COOKIE, WebSessions
from workers.config import Settings

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "Authenticator",
    "Caller",
    "FailedAuth",
    "Forbidden",
    "Unauthorized",
]


class Unauthorized(Exception):
    """401: no credentials (or unreadable ones)."""


class Forbidden(Exception):
    """403: credentials given, not accepted."""


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Authenticator:
    """Checks each request against the keys of one deployment."""

    def __init__(self, settings: Settings) -> None:
        self.ring = KeyRing(settings)
        self.web = WebSessions(self.ring, settings.data_dir, settings.web_session_hours * 3600)

    @property
    def enabled(self) -> bool:
        return self.ring.enabled

    def valid_key(self, key: str, request: Request) -> Caller | None:
        """FailedAuth once this client has guessed too often."""
        return self.ring.accepts(key, client_of(request))

    def check(self, request: Request) -> Caller:
        """The caller, or Unauthorized/Forbidden unless the request carries an accepted key
        (the Authorization header) or the web page's cookie (with the CSRF header if unsafe).
        Without keys every caller is the operator (loopback only)."""
        if not self.enabled:
            return OPERATOR
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("use an Authorization: Bearer <API key> header")
            caller = self.valid_key(token.strip(), request)
            if caller is None:
                raise Forbidden("this API key is not accepted")
            return caller
        cookie = request.cookies.get(COOKIE)
        if cookie is None:
            raise Unauthorized("an API key is required (Authorization: Bearer <API key>)")
        caller = self.web.valid(cookie)
        if caller is None:
            raise Unauthorized("the web session has expired; sign in again")
        if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
            raise Forbidden(f"a request from the web page must carry the {CSRF_HEADER} header")
        return caller
