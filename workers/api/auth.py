"""Who may call the API: bearer keys from DEEPRESEARCH_API_KEYS, compared in constant time;
the web page's cookie (a digest of a key, never the key); and the rule that without a key
the API serves loopback only."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from fastapi import Request

from workers.config import Settings

COOKIE = "deepresearch_session"
# A cookie-authenticated request that changes something must carry this header: a page on
# another origin cannot add it without a CORS preflight this API does not grant (CSRF).
CSRF_HEADER = "x-deepresearch-csrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_COOKIE_CONTEXT = b"deepresearch web session v1"


class Unauthorized(Exception):
    """401: no credentials (or unreadable ones)."""


class Forbidden(Exception):
    """403: credentials given, not accepted."""


def api_keys(settings: Settings) -> list[str]:
    """The configured keys (empty: authentication is off, loopback only)."""
    raw = settings.api_keys.get_secret_value() if settings.api_keys else ""
    return [key.strip() for key in raw.split(",") if key.strip()]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_error(settings: Settings, host: str) -> str | None:
    """Why the API may not listen on `host`, or None: without a key only loopback."""
    if api_keys(settings) or is_loopback(host):
        return None
    return (
        f"refusing to serve {host} without an API key: set DEEPRESEARCH_API_KEYS "
        "(comma-separated) or bind 127.0.0.1"
    )


def _matches(candidate: str, keys: list[str]) -> bool:
    """Constant time in the candidate and the keys: every key is compared, always."""
    given = candidate.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode())
    return found


def cookie_value(key: str) -> str:
    """What the web page's cookie holds for a key: a digest, so the key stays out of it."""
    return hmac.new(key.encode(), _COOKIE_CONTEXT, hashlib.sha256).hexdigest()


class Authenticator:
    """Checks each request against the keys of one deployment."""

    def __init__(self, settings: Settings) -> None:
        self.keys = api_keys(settings)
        self._cookies = [cookie_value(key) for key in self.keys]

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def valid_key(self, key: str) -> bool:
        return _matches(key, self.keys)

    def check(self, request: Request) -> None:
        """Raise Unauthorized or Forbidden unless the request carries an accepted key (the
        Authorization header) or the web page's cookie (with the CSRF header if unsafe)."""
        if not self.enabled:
            return
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("use an Authorization: Bearer <API key> header")
            if not self.valid_key(token.strip()):
                raise Forbidden("this API key is not accepted")
            return
        cookie = request.cookies.get(COOKIE)
        if cookie is None:
            raise Unauthorized("an API key is required (Authorization: Bearer <API key>)")
        if not _matches(cookie, self._cookies):
            raise Unauthorized("the web session has expired; sign in again")
        if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
            raise Forbidden(f"a request from the web page must carry the {CSRF_HEADER} header")
