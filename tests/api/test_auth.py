"""Bearer keys (DEEPRESEARCH_API_KEYS), the web page's cookie and its CSRF header, and the
rule that without a key the API binds loopback only."""

from __future__ import annotations

import httpx

from tests.api.conftest import ApiProcess, serve, settings_of, sse_events
from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, answer
from workers.api.auth import COOKIE, cookie_value

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
                missing = await http.request(method, path)
                assert missing.status_code == 401, (method, path)
                assert missing.headers["www-authenticate"] == "Bearer"
                assert list(missing.json()) == ["error"]
                wrong = await http.request(
                    method, path, headers={"Authorization": "Bearer key-one-012345678X"}
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


async def test_web_cookie_and_csrf(stack: Stack) -> None:
    key = KEYS.split(",")[0]
    async for url, _ in serve(settings_of(stack, DEEPRESEARCH_API_KEYS=KEYS), worker=False):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            page = await http.get("/")
            assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
            refused = await http.post("/login", data={"key": "nope", "next": "/"})
            assert refused.status_code == 403 and "not accepted" in refused.text
            evil = await http.post("/login", data={"key": key, "next": "//evil.example/"})
            assert evil.status_code == 303 and evil.headers["location"] == "/"
            cookie = evil.cookies[COOKIE]
            assert cookie == cookie_value(key) and key not in cookie  # the key stays out of it
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
