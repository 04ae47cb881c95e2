"""One ASGI middleware in front of the API and of MCP over HTTP: what no request gets past,
whatever route it is for and whether or not keys are set.

- Host allow-list: a foreign Host (DNS rebinding: a hostile name resolved to 127.0.0.1) is
  refused before any route runs (421), so a page cannot read sessions through its own name;
  only /healthz answers any Host (probes call it by address).
- Cross-site writes: an unsafe request whose Origin is another site (or `null`), or whose
  Sec-Fetch-Site says cross-site or same-site, is refused (403).
- Content types: a POST must be application/json unless it carries the web page's CSRF header
  or an Authorization header (neither can be sent cross-site without a CORS preflight this
  server does not grant), or is a sign-in/sign-out form (whose route checks a CSRF token).
  That is what stops a form, `text/plain` or no-cors request from another site (415).
- Body caps: a body over DEEPRESEARCH_API_MAX_BODY_BYTES, or a multipart upload over
  DEEPRESEARCH_UPLOAD_MAX_REQUEST_BYTES, is refused by its Content-Length and, when it lies or
  streams, the moment it passes the cap (413): nothing larger is ever read.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from workers.boundary.keys import FailedAuth, KeyRing, api_keys, is_loopback
from workers.config import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-deepresearch-csrf"
CALLER = "deepresearch_caller"  # the request state key RequireKey sets
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
FORM = "application/x-www-form-urlencoded"
# A refused body up to this size is read off before the 413 (the client then reads its answer).
DRAIN_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Policy:
    """What the guard lets through; `hosts` None: any Host."""

    hosts: frozenset[str] | None
    origins: frozenset[str]
    max_body: int
    max_upload: int | None = None  # None: no multipart at all (MCP)
    form_paths: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        settings: Settings,
        bind_host: str,
        *,
        uploads: bool = False,
        form_paths: tuple[str, ...] = (),
    ) -> Policy:
        return cls(
            hosts=allowed_hosts(settings, bind_host),
            origins=frozenset(  # an Origin never ends in "/"; a setting may
                o.strip().rstrip("/") for o in settings.api_cors_origins.split(",") if o.strip()
            ),
            max_body=settings.api_max_body_bytes,
            max_upload=settings.upload_max_request_bytes if uploads else None,
            form_paths=frozenset(form_paths),
        )


def allowed_hosts(settings: Settings, bind_host: str) -> frozenset[str] | None:
    """DEEPRESEARCH_ALLOWED_HOSTS (`*`: any); unset: any name when keys guard every request,
    else the loopback names and the loopback address bound (e.g. 127.0.0.2)."""
    names = [h.strip().lower().strip("[]") for h in settings.allowed_hosts.split(",") if h.strip()]
    if "*" in names:
        return None
    if names:
        return frozenset(names)
    if api_keys(settings):
        return None
    bound = bind_host.strip().lower().strip("[]")
    return LOOPBACK_NAMES | ({bound} if is_loopback(bound) else set())


def host_name(host: str) -> str:
    """`Example.org:8000` -> `example.org`; `[::1]:80` -> `::1` (a Host header's name part)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, colon, port = host.rpartition(":")
    return (name if colon and port.isdigit() else host).rstrip(".")


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers (the last of a repeated one), decoded as latin-1, as HTTP is."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def refuse(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    """A one-line JSON error, as every other error of the API's."""
    body = json.dumps({"error": message}, separators=(",", ":")).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _shown(value: str) -> str:
    return repr(value[:100])


class Guard:
    """The middleware (pure ASGI: streaming responses and the MCP transport pass untouched)."""

    def __init__(self, app: ASGIApp, policy: Policy) -> None:
        self.app, self.policy = app, policy

    def _host_error(self, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "").strip()
        if not host:
            return 400, "a Host header is required"
        if self.policy.hosts is not None and host_name(host) not in self.policy.hosts:
            return 421, (
                f"this server does not answer for the host {_shown(host_name(host))}: "
                "add it to DEEPRESEARCH_ALLOWED_HOSTS"
            )
        return None

    def _origin_error(self, headers: dict[str, str]) -> str | None:
        origin = headers.get("origin")
        if origin is not None:
            if origin.strip().lower() == "null":
                return "cross-site request refused: its Origin is null"
            netloc = urlsplit(origin.strip()).netloc.lower()
            if netloc == headers.get("host", "").strip().lower():
                return None
            if origin.strip().rstrip("/") in self.policy.origins:
                return None
            return (
                f"cross-site request refused: the origin {_shown(origin)} is not this site "
                "(allow it in DEEPRESEARCH_API_CORS_ORIGINS)"
            )
        fetch_site = headers.get("sec-fetch-site", "").strip().lower()
        if fetch_site in ("cross-site", "same-site"):
            return f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
        return None

    def _type_error(self, scope: Scope, headers: dict[str, str]) -> str | None:
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "application/json" or headers.get(CSRF_HEADER) == "1":
            return None
        if "authorization" in headers:
            return None
        if media == FORM and scope["path"] in self.policy.form_paths:
            return None  # the route checks the form's CSRF token
        return (
            "send the body as Content-Type: application/json (a form needs the "
            "X-DeepResearch-CSRF: 1 header)"
        )

    def _body_limit(self, headers: dict[str, str]) -> tuple[int, str]:
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "multipart/form-data" and self.policy.max_upload is not None:
            return self.policy.max_upload, "DEEPRESEARCH_UPLOAD_MAX_REQUEST_BYTES"
        return self.policy.max_body, "DEEPRESEARCH_API_MAX_BODY_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = _headers(scope)
        probe = scope["type"] == "http" and scope["path"] == "/healthz"  # says nothing private;
        # load balancers and kubelets call it by address, not by the public name
        if scope["type"] == "websocket":  # none of ours; closed unless its Host and Origin pass
            if self._host_error(headers) is not None or self._origin_error(headers) is not None:
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if not probe and (failure := self._host_error(headers)) is not None:
            await refuse(send, *failure)
            return
        method = scope["method"].upper()
        if method not in SAFE_METHODS:
            if (reason := self._origin_error(headers)) is not None:
                await refuse(send, 403, reason)
                return
            if method == "POST" and (reason := self._type_error(scope, headers)) is not None:
                await refuse(send, 415, reason)
                return
        limit, setting = self._body_limit(headers)
        too_large = f"the request body is larger than {limit} bytes ({setting})"
        length = headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > limit:
            if int(length) <= DRAIN_BYTES:
                await _drain(receive, 0)
            await refuse(send, 413, too_large, {"connection": "close"})
            return
        await self._capped(scope, receive, send, limit, too_large)

    async def _capped(
        self, scope: Scope, receive: Receive, send: Send, limit: int, too_large: str
    ) -> None:
        """Run the app counting the body as it arrives: past `limit` the app sees a
        disconnect, the client a 413, and whatever the app answers after that is dropped."""
        seen = 0
        started = refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    if not started and not refused:
                        refused = True
                        if message.get("more_body"):
                            await _drain(receive, seen)
                        await refuse(send, 413, too_large, {"connection": "close"})
                    return {"type": "http.disconnect"}
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except Exception:
            if not refused:
                raise  # the app's own failure; ours was answered already


async def _drain(receive: Receive, read: int) -> None:
    """Read off the rest of a refused body, up to DRAIN_BYTES in all: the server cannot read
    once it answered, and a client still sending to a closed socket sees a reset, not its 413."""
    while read <= DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        read += len(message.get("body", b""))
        if not message.get("more_body"):
            return


class RequireKey:
    """Every HTTP request carries `Authorization: Bearer <key>` of the deployment (when keys
    are set): MCP over HTTP takes the same keys as the API, with the same throttle."""

    def __init__(self, app: ASGIApp, ring: KeyRing) -> None:
        self.app, self.ring = app, ring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.ring.enabled:
            await self.app(scope, receive, send)
            return
        scheme, _, token = _headers(scope).get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            challenge = {"www-authenticate": "Bearer"}
            await refuse(send, 401, "an API key is required (Authorization: Bearer <API key>)",
                         challenge)  # fmt: skip
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        try:
            caller = self.ring.accepts(token.strip(), client)
        except FailedAuth as error:
            await refuse(send, 429, str(error), {"retry-after": str(error.retry_after)})
            return
        if caller is None:
            await refuse(send, 403, "this API key is not accepted")
            return
        scope.setdefault("state", {})[CALLER] = caller  # the tools read whom they act for
        await self.app(scope, receive, send)
