"""The boundary's rules in process, each decision on its own (the HTTP tests in tests/api show
them end to end): key entries, the throttle, the Host allow-list, the cross-site and
content-type rules, the body cap, the bearer check of MCP over HTTP and the web sign-in."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from activities.errors import ConfigurationError
from workers.boundary.guard import (
    CALLER,
    DRAIN_BYTES,
    Guard,
    Policy,
    RequireKey,
    allowed_hosts,
    host_name,
    refuse,
)
from workers.boundary.keys import (
    Caller,
    FailedAuth,
    KeyRing,
    Throttle,
    bind_error,
    find,
    is_loopback,
    parse_entry,
    parse_keys,
)
from workers.boundary.web_session import (
    WebSessions,
    form_token_matches,
    new_form_token,
    sign_out_token,
)
from workers.config import Settings

KEY = "k" * 16


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        (KEY, ("default", KEY)),
        (f"alpha={KEY}", ("alpha", KEY)),
        ("QUJDREVGR0hJSktMTU5PUA==", ("default", "QUJDREVGR0hJSktMTU5PUA==")),  # base64 pad
        (f"team.a_b-1={KEY}=", ("team.a_b-1", f"{KEY}=")),
        (f"alpha={'X' * 16}", ("alpha", "X" * 16)),  # only '=' is padding
    ],
)
def test_key_entries(entry: str, parsed: tuple[str, str]) -> None:
    assert parse_entry(entry, "X") == parsed


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("k" * 15, "invalid setting X: the key has 15 characters; use at least 16"),
        ("alpha=short", "invalid setting X: the key has 5 characters; use at least 16"),
        (
            f"no way={KEY}",
            "invalid setting X: tenant 'no way' is not a tenant name (letters, "
            "digits, '.', '_', '-'; at most 64)",
        ),
        (f"{'t' * 80}={KEY}", f"invalid setting X: tenant '{'t' * 40}' is not"),  # cut at 40
        (f"{'t' * 65}={KEY}", f"invalid setting X: tenant '{'t' * 40}' is not a tenant name"),
    ],
)
def test_bad_key_entries(entry: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_entry(entry, "X")
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_key_of_exactly_sixteen_is_enough() -> None:
    assert parse_entry("a" * 16, "X") == ("default", "a" * 16)


def test_find_compares_every_secret() -> None:
    assert find("b", ["a", "b", "b"]) == 1  # the first equal one
    assert find("c", ["a", "b"]) is None
    assert find("", []) is None


def test_the_throttle_refuses_after_the_allowed_failures() -> None:
    throttle = Throttle(allowed=3, window=60)
    for _ in range(3):
        throttle.check("1.2.3.4")
        throttle.failed("1.2.3.4")
    with pytest.raises(FailedAuth) as caught:
        throttle.check("1.2.3.4")
    assert 59 <= caught.value.retry_after <= 60
    assert str(caught.value) == (
        f"too many failed keys from this address; try again in {caught.value.retry_after} s"
    )
    throttle.check("5.6.7.8")  # another client is not affected


def test_the_throttle_forgets_old_failures() -> None:
    throttle = Throttle(allowed=1, window=0.05)
    throttle.failed("a")
    with pytest.raises(FailedAuth):
        throttle.check("a")
    time.sleep(0.06)
    throttle.check("a")


def test_a_key_ring(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# a comment\nbeta={'b' * 16}\n")
    ring = KeyRing(Settings(DEEPRESEARCH_API_KEYS=f"{KEY},ops={'o' * 16}",
                            DEEPRESEARCH_API_KEYS_FILE=str(keys),
                            DEEPRESEARCH_ADMIN_TENANTS="ops"))  # fmt: skip
    assert ring.enabled
    assert ring.accepts(KEY, "c") == Caller("default", admin=False)
    assert ring.accepts("o" * 16, "c") == Caller("ops", admin=True)
    assert ring.accepts("b" * 16, "c") == Caller("beta", admin=False)
    assert ring.accepts("x" * 16, "c") is None
    assert not KeyRing(Settings()).enabled
    with pytest.raises(ConfigurationError, match="DEEPRESEARCH_ADMIN_TENANTS"):
        KeyRing(Settings(DEEPRESEARCH_ADMIN_TENANTS="not a name"))
    with pytest.raises(ConfigurationError) as caught:
        KeyRing(Settings(DEEPRESEARCH_API_KEYS=f"{KEY},short"))
    assert str(caught.value).startswith("invalid setting DEEPRESEARCH_API_KEYS (entry 2): the key")
    missing = tmp_path / "missing"
    with pytest.raises(ConfigurationError) as caught:
        KeyRing(Settings(DEEPRESEARCH_API_KEYS_FILE=str(missing)))
    assert str(caught.value) == (
        f"invalid setting DEEPRESEARCH_API_KEYS_FILE: cannot read {missing}: "
        "No such file or directory"
    )


def test_the_bind_rule() -> None:
    assert bind_error(Settings(), "127.0.0.1") is None
    assert bind_error(Settings(), "::1") is None
    assert bind_error(Settings(), "localhost") is None
    assert bind_error(Settings(DEEPRESEARCH_API_KEYS=KEY), "0.0.0.0") is None
    assert bind_error(Settings(), "0.0.0.0") == (
        "refusing to serve 0.0.0.0 without an API key: set DEEPRESEARCH_API_KEYS "
        "(comma-separated) or bind 127.0.0.1"
    )


@pytest.mark.parametrize(
    ("host", "name"),
    [("Example.org:8000", "example.org"), ("[::1]:80", "::1"), ("[::1]", "::1"),
     ("example.org.", "example.org"), ("example.org", "example.org"), ("a:b", "a:b")],
)  # fmt: skip
def test_host_names(host: str, name: str) -> None:
    assert host_name(host) == name


def test_the_allowed_hosts() -> None:
    assert allowed_hosts(Settings(), "127.0.0.2") == {"localhost", "127.0.0.1", "::1", "127.0.0.2"}
    assert allowed_hosts(Settings(), "127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert allowed_hosts(Settings(), "10.0.0.5") == {"localhost", "127.0.0.1", "::1"}  # not it
    assert allowed_hosts(Settings(DEEPRESEARCH_API_KEYS=KEY), "0.0.0.0") is None
    named = Settings(DEEPRESEARCH_ALLOWED_HOSTS=" Research.Internal ,[::1]")
    assert allowed_hosts(named, "127.0.0.1") == {"research.internal", "::1"}
    assert allowed_hosts(Settings(DEEPRESEARCH_ALLOWED_HOSTS="a,*"), "127.0.0.1") is None


class Asgi:
    """Calls an ASGI app with one request and keeps what it sent."""

    def __init__(self) -> None:
        self.reached: list[dict[str, Any]] = []

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.reached.append(scope)
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def call(self, app: Any, method: str = "POST", path: str = "/v1/sessions",
                   body: bytes = b"{}", **headers: str) -> tuple[int, str]:  # fmt: skip
        sent: list[dict[str, Any]] = []
        raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
        scope = {"type": "http", "method": method, "path": path, "headers": raw,
                 "client": ("9.9.9.9", 1)}  # fmt: skip

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        text = sent[1].get("body", b"").decode() if len(sent) > 1 else ""
        return sent[0]["status"], json.loads(text)["error"] if text else ""


JSON = {"host": "127.0.0.1:8000", "content_type": "application/json"}


@pytest.mark.parametrize(
    ("method", "headers", "status", "error"),
    [
        ("POST", JSON, 204, ""),
        ("POST", {**JSON, "origin": "http://127.0.0.1:8000"}, 204, ""),  # same origin
        ("POST", {**JSON, "origin": "https://app.example"}, 204, ""),  # a CORS origin
        ("POST", {**JSON, "origin": "https://evil.example"}, 403, "is not this site"),
        ("POST", {**JSON, "origin": "null"}, 403, "its Origin is null"),
        ("POST", {**JSON, "sec_fetch_site": "cross-site"}, 403, "Sec-Fetch-Site: cross-site"),
        ("POST", {**JSON, "sec_fetch_site": "same-site"}, 403, "Sec-Fetch-Site: same-site"),
        ("POST", {**JSON, "sec_fetch_site": "same-origin"}, 204, ""),
        ("DELETE", {**JSON, "origin": "https://evil.example"}, 403, "is not this site"),
        ("POST", {"host": "127.0.0.1:8000", "content_type": "text/plain"}, 415,
         "send the body as Content-Type: application/json"),
        ("POST", {"host": "127.0.0.1:8000"}, 415, "application/json"),
        ("POST", {"host": "127.0.0.1:8000", "x_deepresearch_csrf": "1"}, 204, ""),
        ("POST", {"host": "127.0.0.1:8000", "x_deepresearch_csrf": "0"}, 415, "application/json"),
        ("POST", {"host": "127.0.0.1:8000", "authorization": "Bearer x"}, 204, ""),
        ("PUT", {"host": "127.0.0.1:8000"}, 204, ""),  # browsers preflight every PUT
        ("GET", {"host": "127.0.0.1:8000", "origin": "https://evil.example"}, 204, ""),
        ("GET", {"host": "evil.example"}, 421, "does not answer for the host 'evil.example'"),
        ("GET", {}, 400, "a Host header is required"),
        ("GET", {"host": "::1"}, 421, "does not answer"),  # IPv6 in a Host needs its brackets
        ("GET", {"host": "h" * 150}, 421, f"the host '{'h' * 100}'"),  # shown cut at 100
        ("POST", {"host": "localhost", "content_type": "application/json; charset=utf-8"}, 204,
         ""),
    ],
)  # fmt: skip
async def test_the_guard_decides(
    method: str, headers: dict[str, str], status: int, error: str
) -> None:
    settings = Settings(DEEPRESEARCH_API_CORS_ORIGINS="https://app.example/")
    inner = Asgi()
    got = await inner.call(Guard(inner.app, Policy.of(settings, "127.0.0.1")), method, **headers)
    assert got[0] == status and error in got[1], got
    assert bool(inner.reached) == (status == 204)


async def test_forms_only_where_their_route_checks_a_token() -> None:
    policy = Policy.of(Settings(), "127.0.0.1", form_paths=("/login",))
    inner = Asgi()
    form = {"host": "localhost", "content_type": "application/x-www-form-urlencoded"}
    assert (await inner.call(Guard(inner.app, policy), path="/login", **form))[0] == 204
    assert (await inner.call(Guard(inner.app, policy), path="/v1/sessions", **form))[0] == 415


async def test_the_probe_answers_any_host() -> None:
    inner = Asgi()
    guard = Guard(inner.app, Policy.of(Settings(), "127.0.0.1"))
    assert (await inner.call(guard, "GET", "/healthz", host="10.1.2.3"))[0] == 204
    assert (await inner.call(guard, "GET", "/healthz/x", host="10.1.2.3"))[0] == 421


@pytest.mark.parametrize(
    ("headers", "body", "status", "setting"),
    [
        ({"content_length": "2000"}, b"x" * 2000, 413, "DEEPRESEARCH_API_MAX_BODY_BYTES"),
        ({"content_length": "1024"}, b"x" * 1024, 204, ""),  # exactly the cap
        ({}, b"x" * 1025, 413, "DEEPRESEARCH_API_MAX_BODY_BYTES"),  # no length: counted
        ({"content_type": "multipart/form-data; boundary=b", "x_deepresearch_csrf": "1",
          "content_length": "2000"}, b"x" * 2000, 204, ""),  # uploads: their own cap
        ({"content_type": "multipart/form-data; boundary=b", "x_deepresearch_csrf": "1",
          "content_length": "5000"}, b"", 413, "DEEPRESEARCH_UPLOAD_MAX_REQUEST_BYTES"),
    ],
)  # fmt: skip
async def test_the_body_caps(headers: dict[str, str], body: bytes, status: int,
                             setting: str) -> None:  # fmt: skip
    settings = Settings(DEEPRESEARCH_API_MAX_BODY_BYTES="1024",
                        DEEPRESEARCH_UPLOAD_MAX_REQUEST_BYTES="4096")  # fmt: skip
    inner = Asgi()
    guard = Guard(inner.app, Policy.of(settings, "127.0.0.1", uploads=True))
    merged = {"host": "localhost", "content_type": "application/json", **headers}
    got = await inner.call(guard, body=body, **merged)
    assert got[0] == status and setting in got[1], got


async def test_mcp_takes_the_keys() -> None:
    ring = KeyRing(Settings(DEEPRESEARCH_API_KEYS=f"alpha={KEY}"))
    inner = Asgi()
    app = RequireKey(inner.app, ring)
    assert await inner.call(app) == (
        401, "an API key is required (Authorization: Bearer <API key>)"
    )  # fmt: skip
    assert (await inner.call(app, authorization=f"Basic {KEY}"))[0] == 401
    assert await inner.call(app, authorization=f"Bearer {'x' * 16}") == (
        403, "this API key is not accepted"
    )  # fmt: skip
    assert (await inner.call(app, authorization=f"Bearer {KEY}"))[0] == 204
    assert inner.reached[-1]["state"][CALLER] == Caller("alpha", admin=False)
    open_app = RequireKey(inner.app, KeyRing(Settings()))
    assert (await inner.call(open_app))[0] == 204  # no keys: nothing to check


def test_web_sign_in(tmp_path: Path) -> None:
    ring = KeyRing(Settings(DEEPRESEARCH_API_KEYS=f"alpha={KEY}"))
    web = WebSessions(ring, tmp_path, max_age_seconds=60)
    cookie = web.issue(KEY)
    assert KEY not in cookie and cookie.startswith("v2.")
    assert web.valid(cookie) == Caller("alpha", admin=False)
    assert web.valid(web.issue(KEY)) is not None and web.issue(KEY) != cookie  # fresh ids
    version, issued, sid, mac = cookie.split(".")
    assert web.valid(f"v2.{int(issued) - 61}.{sid}.{mac}") is None  # the mac covers the time
    assert web.valid(f"v1.{issued}.{sid}.{mac}") is None
    assert web.valid(f"{version}.{issued}.{sid}.{'0' * 64}") is None
    assert web.valid(f"v2.{int(issued) - 1}.{sid}.{mac}") is None  # any other time
    other_sid = web.issue(KEY).split(".")[2]
    assert web.valid(f"v2.{issued}.{other_sid}.{mac}") is None  # the mac covers the id
    assert web.valid("") is None and web.valid("v2.x.y.z") is None
    other = WebSessions(KeyRing(Settings(DEEPRESEARCH_API_KEYS="z" * 16)), tmp_path, 60)
    assert other.valid(cookie) is None  # signed by a key it does not have
    web.revoke(cookie)
    assert web.valid(cookie) is None
    assert (tmp_path / "web" / "revoked" / sid).exists()


def test_web_sign_in_expires(tmp_path: Path) -> None:
    web = WebSessions(KeyRing(Settings(DEEPRESEARCH_API_KEYS=KEY)), tmp_path, max_age_seconds=1)
    cookie = web.issue(KEY)
    assert web.valid(cookie) is not None
    time.sleep(2.1)
    assert web.valid(cookie) is None


def test_form_tokens() -> None:
    token = new_form_token()
    assert len(token) == 32 and form_token_matches(token, token)
    assert not form_token_matches(token, None) and not form_token_matches(token, "")
    assert not form_token_matches(token, new_form_token())
    assert not form_token_matches("x" * 32, "x" * 32)  # not hex: not one of ours
    assert sign_out_token("a") != sign_out_token("b") and len(sign_out_token("a")) == 32


def test_key_lists_name_the_entry_and_refuse_a_key_shared_by_two_tenants() -> None:
    assert parse_keys([KEY, f"alpha={'a' * 16}", "", "# x"], "S (entry {number})") == {
        KEY: "default",
        "a" * 16: "alpha",
    }
    assert parse_keys([f"alpha={KEY}", f"alpha={KEY}"], "S") == {KEY: "alpha"}  # repeated
    with pytest.raises(ConfigurationError, match=r"^invalid setting S \(entry 2\): the same key"):
        parse_keys([f"alpha={KEY}", f"beta={KEY}"], "S (entry {number})")
    with pytest.raises(ConfigurationError, match=r"^invalid setting S \(entry 1\): the key has"):
        parse_keys(["short"], "S (entry {number})")


def test_loopback_names() -> None:
    assert is_loopback("[::1]") and is_loopback("127.0.0.2") and is_loopback("localhost")
    assert not is_loopback("example.org") and not is_loopback("10.0.0.1")


async def test_a_refusal_is_one_json_line_with_its_headers() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await refuse(send, 429, "wait", {"Retry-After": "7"})
    start, body = sent
    assert (start["type"], body["type"]) == ("http.response.start", "http.response.body")
    assert start["status"] == 429
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"content-length"] == str(len(body["body"])).encode()
    assert headers[b"retry-after"] == b"7"
    assert body["body"] == b'{"error":"wait"}'


@pytest.mark.parametrize(
    ("declared", "chunks", "read"),
    [
        (str(2 << 20), 32, 32),  # declared past the cap, small enough: all read off first
        (None, 32, 32),  # no length: counted, then the rest read off
        (str(64 << 20), 1024, 0),  # declared past DRAIN_BYTES: answered at once
    ],
)
async def test_a_refused_body_is_read_off_before_the_413(
    declared: str | None, chunks: int, read: int
) -> None:
    """The server cannot read once it answered; a client still sending to the closed socket
    would see a reset instead of its 413 (MCP over HTTP saw it)."""
    taken: list[bool] = []
    events: list[str] = []

    async def receive() -> dict[str, Any]:
        taken.append(True)
        events.append("receive")
        more = len(taken) < chunks
        return {"type": "http.request", "body": b"x" * (64 << 10), "more_body": more}

    async def send(message: dict[str, Any]) -> None:
        events.append(message["type"])

    headers = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    if declared is not None:
        headers.append((b"content-length", declared.encode()))
    scope = {"type": "http", "method": "POST", "path": "/v1/sessions", "headers": headers,
             "client": ("9.9.9.9", 1)}  # fmt: skip
    inner = Asgi()
    settings = Settings(DEEPRESEARCH_API_MAX_BODY_BYTES=1 << 20)
    await Guard(inner.app, Policy.of(settings, "127.0.0.1"))(scope, receive, send)
    assert events[-2:] == ["http.response.start", "http.response.body"]
    assert events.count("receive") == read


async def test_lifespan_and_websockets() -> None:
    """Lifespan passes untouched; a websocket (the API has none) is closed with 1008 unless
    its Host and Origin pass, else handed on as it came."""
    seen: list[tuple[Any, Any, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    guard = Guard(app, Policy.of(Settings(), "127.0.0.1"))
    lifespan = {"type": "lifespan"}
    await guard(lifespan, receive, send)
    assert seen == [(lifespan, receive, send)] and not sent

    def ws(**headers: str) -> dict[str, Any]:
        raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
        return {"type": "websocket", "path": "/ws", "headers": raw}

    for scope in (ws(host="evil.example"), ws(host="localhost", origin="https://evil.example"),
                  ws(host="localhost", sec_fetch_site="cross-site")):  # fmt: skip
        sent.clear()
        await guard(scope, receive, send)
        assert sent == [{"type": "websocket.close", "code": 1008}], scope
    assert len(seen) == 1  # none of them reached the app
    fine = ws(host="localhost:8000", origin="http://localhost:8000")
    await guard(fine, receive, send)
    assert seen[-1] == (fine, receive, send)


async def test_a_declared_oversize_body_closes_the_connection() -> None:
    inner = Asgi()
    guard = Guard(inner.app, Policy.of(Settings(), "127.0.0.1"))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/sessions", "client": ("9.9.9.9", 1),
             "headers": [(b"host", b"localhost"), (b"content-type", b"application/json"),
                         (b"content-length", str(DRAIN_BYTES + 1).encode())]}  # fmt: skip
    await guard(scope, receive, send)
    assert sent[0]["status"] == 413 and (b"connection", b"close") in sent[0]["headers"]


async def test_a_body_declared_at_exactly_the_drain_limit_is_read_off() -> None:
    chunk = b"x" * (1 << 20)
    taken = 0

    async def receive() -> dict[str, Any]:
        nonlocal taken
        taken += 1
        return {"type": "http.request", "body": chunk, "more_body": taken < 16}

    async def send(message: dict[str, Any]) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": "/v1/sessions", "client": ("9.9.9.9", 1),
             "headers": [(b"host", b"localhost"), (b"content-type", b"application/json"),
                         (b"content-length", str(DRAIN_BYTES).encode())]}  # fmt: skip
    await Guard(Asgi().app, Policy.of(Settings(), "127.0.0.1"))(scope, receive, send)
    assert DRAIN_BYTES == 16 << 20 and taken == 16


async def test_require_key_headers_throttle_per_client_and_lifespan() -> None:
    """401 carries the Bearer challenge; failures are counted per client address (another
    address is not throttled) until 429 with Retry-After; lifespan passes untouched."""
    ring = KeyRing(Settings(DEEPRESEARCH_API_KEYS=f"alpha={KEY}"))
    ring.throttle = Throttle(allowed=2, window=60)
    reached: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    guard = RequireKey(app, ring)

    async def call(client: str, authorization: str | None) -> dict[str, Any]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [] if authorization is None else [(b"authorization", authorization.encode())]
        scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": headers,
                 "client": (client, 5000)}  # fmt: skip
        await guard(scope, None, send)  # type: ignore[arg-type]
        return {"status": sent[0]["status"], "headers": dict(sent[0]["headers"]),
                "body": json.loads(sent[1]["body"] or b"{}")}  # fmt: skip

    missing = await call("1.1.1.1", None)
    assert missing["status"] == 401 and missing["headers"][b"www-authenticate"] == b"Bearer"
    assert (await call("1.1.1.1", "Bearer " + "x" * 16))["status"] == 403
    assert (await call("1.1.1.1", "Bearer " + "y" * 16))["status"] == 403
    throttled = await call("1.1.1.1", f"Bearer {KEY}")  # even the right key, now
    assert throttled["status"] == 429
    assert 1 <= int(throttled["headers"][b"retry-after"]) <= 60
    assert (
        throttled["body"]["error"] == "too many failed keys from this address; try again in "
        f"{int(throttled['headers'][b'retry-after'])} s"
    )
    assert (await call("2.2.2.2", f"Bearer {KEY}"))["status"] == 204  # another address
    assert reached[-1]["state"][CALLER] == Caller("alpha", admin=False)
    lifespan = {"type": "lifespan"}
    await guard(lifespan, None, None)  # type: ignore[arg-type]
    assert reached[-1] is lifespan


def test_the_key_file_is_read_again_when_it_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At most once a second the ring looks at the file: an edit takes effect, a broken edit
    keeps the keys read before and says why in the log."""
    path = tmp_path / "keys"
    path.write_text(f"alpha={'a' * 16}\n")
    ring = KeyRing(Settings(DEEPRESEARCH_API_KEYS_FILE=str(path)))
    assert ring.accepts("a" * 16, "c") == Caller("alpha", admin=False)
    path.write_text(f"beta={'b' * 16}\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert ring.accepts("b" * 16, "c") is None  # not looked at again within the second
    time.sleep(1.1)
    assert ring.accepts("b" * 16, "c") == Caller("beta", admin=False)
    assert ring.accepts("a" * 16, "c") is None  # the old key is gone
    path.write_text("beta=short\n")
    os.utime(path, (time.time() + 10, time.time() + 10))
    time.sleep(1.1)
    with caplog.at_level("ERROR", logger="workers.boundary.keys"):
        assert ring.accepts("b" * 16, "d") == Caller("beta", admin=False)
    assert "the key has 5 characters" in caplog.text
    assert "keeping the keys read before" in caplog.text


def test_the_throttle_forgets_the_oldest_clients_first() -> None:
    throttle = Throttle(allowed=1, window=60)
    throttle.failed("first")
    for number in range(10_000):
        throttle.failed(f"client-{number}")
    throttle.check("first")  # forgotten: at most 10,000 clients are tracked
    with pytest.raises(FailedAuth):
        throttle.check("client-9999")


async def test_a_body_counted_over_several_chunks_and_mcp_without_uploads() -> None:
    """No length: the chunks are summed (two of 600 bytes pass a 1024 cap together); a
    policy without uploads (MCP over HTTP) gives multipart no larger cap."""
    settings = Settings(DEEPRESEARCH_API_MAX_BODY_BYTES="1024",
                        DEEPRESEARCH_UPLOAD_MAX_REQUEST_BYTES="4096")  # fmt: skip
    chunks = [b"x" * 600] * 3
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks[1:])}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    json_headers = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    scope = {"type": "http", "method": "POST", "path": "/v1/sessions", "client": ("9.9.9.9", 1),
             "headers": json_headers}  # fmt: skip
    await Guard(Asgi().app, Policy.of(settings, "127.0.0.1", uploads=True))(scope, receive, send)
    assert sent[0]["status"] == 413 and (b"connection", b"close") in sent[0]["headers"]
    inner = Asgi()
    multipart = {"host": "localhost", "content_type": "multipart/form-data; boundary=b",
                 "x_deepresearch_csrf": "1", "content_length": "2000"}  # fmt: skip
    got = await inner.call(Guard(inner.app, Policy.of(settings, "127.0.0.1")), body=b"x" * 2000,
                           **multipart)  # fmt: skip
    assert got[0] == 413 and "DEEPRESEARCH_API_MAX_BODY_BYTES" in got[1]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"host": "localhost:8000", "origin": "http://LocalHost:8000"}, 204),  # any case
        ({"host": "LOCALHOST:8000", "origin": "http://localhost:8000"}, 204),
        ({"host": "localhost:8000", "origin": "https://app.example/"}, 204),  # trailing slash
        ({"host": "localhost:8000", "origin": "https://other.example/"}, 403),
    ],
)
async def test_origins_compare_without_case_or_trailing_slash(
    headers: dict[str, str], status: int
) -> None:
    settings = Settings(DEEPRESEARCH_API_CORS_ORIGINS="https://app.example, https://b.example")
    inner = Asgi()
    got = await inner.call(Guard(inner.app, Policy.of(settings, "127.0.0.1")),
                           content_type="application/json", **headers)  # fmt: skip
    assert got[0] == status, got


def test_a_sign_out_survives_the_next_and_old_records_go(tmp_path: Path) -> None:
    """Each sign-out keeps the record of the ones before while they could still be valid,
    drops records older than a cookie's lifetime, writes nothing for a forged cookie, and
    keeps the records in a directory only the service's user can read."""
    web = WebSessions(KeyRing(Settings(DEEPRESEARCH_API_KEYS=KEY)), tmp_path, max_age_seconds=600)
    first, second = web.issue(KEY), web.issue(KEY)
    web.revoke(first)
    revoked = tmp_path / "web" / "revoked"
    assert revoked.stat().st_mode & 0o777 == 0o700
    stale = revoked / ("0" * 32)
    stale.touch()
    long_ago = time.time() - 3600  # past the lifetime (600 s) and the clock skew (300 s)
    os.utime(stale, (long_ago, long_ago))
    web.revoke(second)  # the directory exists already: a second sign-out is no error
    assert web.valid(first) is None and web.valid(second) is None
    assert sorted(p.name for p in revoked.iterdir()) == sorted(
        c.split(".")[2] for c in (first, second)
    )  # the stale record went, both recent ones stayed
    version, issued, sid, _ = web.issue(KEY).split(".")
    web.revoke(f"{version}.{issued}.{sid}.{'0' * 64}")  # parses, but its mac is forged
    assert not (revoked / sid).exists()


def test_the_throttle_waits_at_least_a_second_and_forgets_quiet_clients() -> None:
    throttle = Throttle(allowed=1, window=0.3)
    throttle.failed("a")
    with pytest.raises(FailedAuth) as caught:
        throttle.check("a")
    assert caught.value.retry_after == 1  # under a second left: Retry-After says 1
    time.sleep(0.35)
    throttle.check("a")
    assert "a" not in throttle._failures  # nothing kept for a client with no recent failure


def test_the_throttle_tracks_exactly_its_limit_of_clients() -> None:
    throttle = Throttle(allowed=1, window=60)
    for number in range(10_000):
        throttle.failed(f"client-{number}")
    with pytest.raises(FailedAuth):
        throttle.check("client-0")  # the 10,000th client does not push out the first


def test_the_key_file_is_read_once_per_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed file is read once (one log line with its count and path); an unchanged one is
    not read again however often it is looked at. Admin tenants are a comma-separated list."""
    clock = [1000.0]
    monkeypatch.setattr("workers.boundary.keys.time.monotonic", lambda: clock[0])
    path = tmp_path / "keys"
    path.write_text(f"alpha={'a' * 16}\n")
    ring = KeyRing(
        Settings(DEEPRESEARCH_API_KEYS_FILE=str(path), DEEPRESEARCH_ADMIN_TENANTS="ops, audit")
    )
    assert ring.admins == {"ops", "audit"}
    assert ring.caller_of("x" * 16) is None
    with caplog.at_level("INFO", logger="workers.boundary.keys"):
        for _ in range(3):
            clock[0] += 2
            assert ring.keys == ["a" * 16]
        assert caplog.messages == []  # unchanged: not read again
        path.write_text(f"alpha={'a' * 16}\nbeta={'b' * 16}\n")
        for _ in range(3):
            clock[0] += 2
            assert len(ring.keys) == 2
    assert caplog.messages == [f"read 2 keys from {path}"]
    with pytest.raises(ConfigurationError) as caught:
        KeyRing(Settings(DEEPRESEARCH_ADMIN_TENANTS="ops,bad name"))
    assert str(caught.value) == (
        "invalid setting DEEPRESEARCH_ADMIN_TENANTS: 'bad name' is not a tenant name"
    )
    with pytest.raises(ConfigurationError) as caught:
        KeyRing(Settings(DEEPRESEARCH_ADMIN_TENANTS="a" * 40 + "!!"))
    assert f"{'a' * 40!r} is not a tenant name" in str(caught.value)  # the first 40 shown


def streamed(chunks: int | None) -> tuple[Any, list[int]]:
    """A receive of 64 KiB chunks (`chunks` of them, None: more than the drain ever reads)
    and the count of calls it answered."""
    count = [0]

    async def receive() -> dict[str, Any]:
        count[0] += 1
        more = count[0] < (chunks or 5_000)  # a bound, so that a broken drain cannot hang
        return {"type": "http.request", "body": b"x" * (64 << 10), "more_body": more}

    return receive, count


UNSIZED = {
    "type": "http",
    "method": "POST",
    "path": "/v1/sessions",
    "client": ("9.9.9.9", 1),
    "headers": [(b"host", b"localhost"), (b"content-type", b"application/json")],
}


async def test_a_body_past_the_cap_gets_one_413_and_the_app_a_disconnect() -> None:
    """Without a declared length: past the cap the app reads a disconnect, the client gets
    the 413 (with connection: close) and nothing the app sends after it; the rest of the body
    is read off up to DRAIN_BYTES, no further; the app's failure after the refusal is ours."""
    seen: list[dict[str, Any]] = []
    scopes: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})
        raise RuntimeError("the app fails on its disconnect")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    receive, count = streamed(None)
    guard = Guard(app, Policy.of(Settings(DEEPRESEARCH_API_MAX_BODY_BYTES=1 << 20), "127.0.0.1"))
    await guard(UNSIZED, receive, send)
    assert scopes == [UNSIZED]
    assert seen[-1] == {"type": "http.disconnect"} and len(seen) == 17  # 17 × 64 KiB > 1 MiB
    assert [m.get("status") for m in sent] == [413, None]
    assert (b"connection", b"close") in sent[0]["headers"]
    assert b"late" not in sent[1]["body"]
    assert count[0] == 257  # read off while at most DRAIN_BYTES (16 MiB) were read, then stop
    # an app that answered before the body ran over keeps its answer; it reads a disconnect
    seen.clear()
    sent.clear()
    streaming: list[dict[str, Any]] = []

    async def early(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (message := await receive())["type"] == "http.request":
            streaming.append(message)
        seen.append(message)
        await send({"type": "http.response.body", "body": b"done"})

    receive, count = streamed(32)
    await Guard(early, guard.policy)(UNSIZED, receive, send)
    assert seen == [{"type": "http.disconnect"}] and len(streaming) == 16
    assert [m.get("status") for m in sent] == [200, None] and sent[1]["body"] == b"done"
    with pytest.raises(RuntimeError):  # the app's own failure, with nothing refused, is raised
        await Guard(app, guard.policy)(UNSIZED, streamed(2)[0], send)
