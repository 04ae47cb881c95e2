"""Bearer keys (DEEPRESEARCH_API_KEYS), the web page's cookie and its CSRF header, and the
rule that without a key the API binds loopback only."""

from __future__ import annotations

import asyncio
import re

import httpx

from tests.api.conftest import ApiProcess, serve, settings_of, sse_events
from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, answer
from workers.api.auth import COOKIE

KEYS = "key-one-0123456789,key-two-abcdefghij"


async def test_keys_guard_every_v1_endpoint(stack: Stack) -> None:
    stack.script(QUESTION, [answer()])
    async for url, _ in serve(settings_of(stack, DEEPRESEARCH_API_KEYS=KEYS)):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for method, path in [
                ("GET", "/v1/sessions"),
                ("POST", "/v1/sessions"),
                ("GET", "/v1/sessions/x"),
                ("GET", "/v1/sessions/x/timeline"),
                ("GET", "/v1/sessions/x/export"),
                ("GET", "/v1/sessions/x/events"),
                ("POST", "/v1/sessions/x/cancel"),
                ("POST", "/v1/sessions/x/steer"),
                ("POST", "/v1/sessions/x/resume"),
            ]:
                body = {} if method == "POST" else None  # JSON: the guard's type rule holds
                missing = await http.request(method, path, json=body)
                assert missing.status_code == 401, (method, path)
                assert missing.headers["www-authenticate"] == "Bearer"
                assert list(missing.json()) == ["error"]
                wrong = await http.request(
                    method, path, headers={"Authorization": "Bearer key-one-012345678X"}, json=body
                )
                assert wrong.status_code == 403, (method, path)
                assert wrong.json() == {"error": "this API key is not accepted"}
            basic = await http.get("/v1/sessions", headers={"Authorization": "Basic eDp5"})
            assert basic.status_code == 401
            # health, the API's description and static files need no key
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/openapi.json")).status_code == 200
            assert (await http.get("/static/app.js")).status_code == 200
            # either key works
            for key in KEYS.split(","):
                auth = {"Authorization": f"Bearer {key}"}
                assert (await http.get("/v1/sessions", headers=auth)).status_code == 200
            auth = {"Authorization": f"Bearer {KEYS.split(',')[1]}"}
            started = await http.post(
                "/v1/sessions", json={"question": QUESTION, "id": "k-one"}, headers=auth
            )
            assert started.status_code == 202
            events = await sse_events(http, "/v1/sessions/k-one/events", headers=auth)
            assert events[-1]["data"]["answer"] == ANSWER


def form_token(page: httpx.Response) -> str:
    """The hidden CSRF field of a rendered sign-in or sign-out form."""
    found = re.search(r'name="csrf" value="([0-9a-f]*)"', page.text)
    assert found, page.text
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, key: str, next_: str = "/") -> httpx.Response:
    token = form_token(await http.get("/login"))
    return await http.post("/login", data={"key": key, "next": next_, "csrf": token})


async def test_web_cookie_and_csrf(stack: Stack) -> None:
    key = KEYS.split(",")[0]
    async for url, _ in serve(settings_of(stack, DEEPRESEARCH_API_KEYS=KEYS), worker=False):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            page = await http.get("/")
            assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
            refused = await sign_in(http, "nope-nope-nope-nope")
            assert refused.status_code == 403 and "not accepted" in refused.text
            evil = await sign_in(http, key, "//evil.example/")
            assert evil.status_code == 303 and evil.headers["location"] == "/"
            cookie = evil.cookies[COOKIE]
            assert key not in cookie  # the key stays out of it
            assert "httponly" in evil.headers["set-cookie"].lower()
            assert "samesite=strict" in evil.headers["set-cookie"].lower()
            http.cookies.set(COOKIE, cookie)
            assert (await http.get("/")).status_code == 200
            assert (await http.get("/v1/sessions")).status_code == 200
            # a cookie alone cannot change anything: a cross-site form could send it
            forged = await http.post("/v1/sessions", json={"question": QUESTION})
            assert forged.status_code == 403 and "x-deepresearch-csrf" in forged.json()["error"]
            missing = await http.post("/v1/sessions/x/cancel", headers={"X-DeepResearch-CSRF": "1"})
            assert missing.status_code == 404  # authenticated, then the session is unknown
            http.cookies.set(COOKIE, "0" * 64)
            assert (await http.get("/v1/sessions")).status_code == 401


async def test_sign_in_and_out_forms_cannot_be_forged(stack: Stack) -> None:
    """Without the form's token (which another site cannot read) neither form does anything;
    sign-out revokes the cookie on the server, so a copy of it stops working too."""
    key = KEYS.split(",")[0]
    async for url, _ in serve(settings_of(stack, DEEPRESEARCH_API_KEYS=KEYS), worker=False):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            forged = await http.post("/login", data={"key": key, "next": "/"})
            assert forged.status_code == 403 and COOKIE not in forged.cookies
            other = await http.post("/login", data={"key": key, "csrf": "ab" * 16})
            assert other.status_code == 403 and COOKIE not in other.cookies  # not the cookie's
            signed_in = await sign_in(http, key)
            assert signed_in.status_code == 303
            cookie = signed_in.cookies[COOKIE]
            http.cookies.set(COOKIE, cookie)
            page = await http.get("/")
            assert page.status_code == 200
            kept = await http.post("/logout", data={"csrf": "0" * 32})
            assert kept.status_code == 403
            assert (await http.get("/v1/sessions")).status_code == 200  # still signed in
            out = await http.post("/logout", data={"csrf": form_token(page)})
            assert out.status_code == 303 and out.headers["location"] == "/login"
        async with httpx.AsyncClient(base_url=url, timeout=30) as copy:
            copy.cookies.set(COOKIE, cookie)  # the cookie as a thief kept it
            revoked = await copy.get("/v1/sessions")
            assert revoked.status_code == 401 and "sign in again" in revoked.json()["error"]


async def test_web_sign_in_expires(stack: Stack) -> None:
    key = KEYS.split(",")[0]
    settings = settings_of(
        stack, DEEPRESEARCH_API_KEYS=KEYS, DEEPRESEARCH_WEB_SESSION_HOURS="0.0015"
    )
    async for url, _ in serve(settings, worker=False):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            signed_in = await sign_in(http, key)
            assert "max-age=5" in signed_in.headers["set-cookie"].lower()
            http.cookies.set(COOKIE, signed_in.cookies[COOKIE])
            # five seconds, counted from the whole second it was issued in: a slow machine's
            # next request still falls inside it
            assert (await http.get("/v1/sessions")).status_code == 200
            await asyncio.sleep(6.2)  # past its lifetime: the server refuses it, whatever the
            expired = await http.get("/v1/sessions")  # browser kept
            assert expired.status_code == 401


async def test_failed_keys_are_throttled(stack: Stack) -> None:
    """Guessing costs: after ten wrong keys a client waits (429 with Retry-After) and, while it
    waits, not even the right key is checked."""
    key = KEYS.split(",")[0]
    async for url, _ in serve(settings_of(stack, DEEPRESEARCH_API_KEYS=KEYS), worker=False):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            wrong = {"Authorization": f"Bearer {'x' * 20}"}
            for _ in range(10):
                assert (await http.get("/v1/sessions", headers=wrong)).status_code == 403
            throttled = await http.get("/v1/sessions", headers={"Authorization": f"Bearer {key}"})
            assert throttled.status_code == 429
            assert 1 <= int(throttled.headers["retry-after"]) <= 60
            assert "too many failed" in throttled.json()["error"]
            login = await sign_in(http, key)
            assert login.status_code == 429


def test_short_keys_refused_at_start(stack: Stack) -> None:
    result = stack.cli("api", "--port", "1", DEEPRESEARCH_API_KEYS="secret", timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: invalid setting DEEPRESEARCH_API_KEYS (entry 1): the key has 6 characters; "
        "use at least 16 (e.g. `openssl rand -hex 24`)"
    )


def test_no_key_refuses_to_bind_beyond_loopback(stack: Stack) -> None:
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        result = stack.cli("api", "--host", host, "--port", "1", timeout=60)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines[-1] == (
            f"error: refusing to serve {host} without an API key: set DEEPRESEARCH_API_KEYS "
            "(comma-separated) or bind 127.0.0.1"
        )
        assert "Traceback" not in result.stderr


def test_port_in_use_is_one_line(stack: Stack, api_process: list[ApiProcess]) -> None:
    first = ApiProcess(stack).wait_ready()
    api_process.append(first)
    result = stack.cli("api", "--port", str(first.port), timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{first.port}: Address already in use"
    )
