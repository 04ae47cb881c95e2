"""Tenants over HTTP, against real `deepresearch api` and `mcp` processes: a tenant sees only its
own sessions (another's is 404, exactly as an unknown id), lists only its own, an admin tenant
sees all; keys rotate in the keys file without a restart; a bad keys file is one line."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.api.conftest import ApiProcess, sse_events
from tests.conftest import Stack
from tests.mcp.mcp_client import client_session, http_server, structured
from tests.workflow.test_session import ANSWER, QUESTION, answer

ALPHA, BETA, OPS = (
    "alpha-key-0123456789abcd",
    "beta-key-0123456789abcde",
    "ops-key-0123456789abcdef",
)


def keys_file(tmp_path: Path, beta: str = BETA) -> Path:
    path = tmp_path / "keys"
    path.write_text(f"# team keys\nalpha={ALPHA}\n\nbeta={beta}\nops={OPS}\n")
    return path


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def listed(http: httpx.Client, key: str, **params: str) -> set[str]:
    page = http.get("/v1/sessions", params={"limit": "200", **params}, headers=auth(key))
    assert page.status_code == 200, page.text
    return {row["session_id"] for row in page.json()["sessions"]}


def wait_done(http: httpx.Client, session_id: str, key: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 120
    while (view := http.get(f"/v1/sessions/{session_id}", headers=auth(key)).json())[
        "status"
    ] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    return view


async def test_a_tenant_sees_only_its_own(
    stack: Stack, api_process: list[ApiProcess], tmp_path: Path
) -> None:
    stack.script(QUESTION, [answer()])
    path = keys_file(tmp_path)
    api = ApiProcess(
        stack, "--worker", DEEPRESEARCH_API_KEYS_FILE=str(path), DEEPRESEARCH_ADMIN_TENANTS="ops"
    ).wait_ready()
    api_process.append(api)
    http = httpx.Client(base_url=api.url, timeout=30)
    mine = http.post("/v1/sessions", json={"question": QUESTION, "id": "t-alpha"},
                     headers=auth(ALPHA))  # fmt: skip
    assert mine.status_code == 202, mine.text
    assert wait_done(http, "t-alpha", ALPHA)["result"]["answer"] == ANSWER

    unknown = http.get("/v1/sessions/t-nobody", headers=auth(BETA))
    for method, path_, body in [
        ("GET", "/v1/sessions/{}", None),
        ("GET", "/v1/sessions/{}/timeline", None),
        ("GET", "/v1/sessions/{}/export", None),
        ("GET", "/v1/sessions/{}/events", None),
        ("POST", "/v1/sessions/{}/cancel", {}),
        ("POST", "/v1/sessions/{}/steer", {"note": "hello"}),
        ("POST", "/v1/sessions/{}/resume", {}),
    ]:
        theirs = http.request(method, path_.format("t-alpha"), json=body, headers=auth(BETA))
        nobody = http.request(method, path_.format("t-nobody"), json=body, headers=auth(BETA))
        assert theirs.status_code == nobody.status_code == 404, (method, path_, theirs.text)
        assert theirs.json()["error"] == nobody.json()["error"].replace("t-nobody", "t-alpha")
    assert unknown.json() == {"error": "no session with id 't-nobody'"}
    # the same id from another tenant attaches to nothing of theirs
    taken = http.post("/v1/sessions", json={"question": QUESTION, "id": "t-alpha"},
                      headers=auth(BETA))  # fmt: skip
    assert taken.status_code == 409 and "taken" in taken.json()["error"]

    assert "t-alpha" in listed(http, ALPHA)
    assert "t-alpha" not in listed(http, BETA)
    assert "t-alpha" not in listed(http, BETA, tenant="alpha")  # a tenant cannot widen it
    assert "t-alpha" in listed(http, OPS) and "t-alpha" in listed(http, OPS, tenant="alpha")
    assert "t-alpha" not in listed(http, OPS, tenant="beta")
    rows = http.get("/v1/sessions", params={"tenant": "alpha"}, headers=auth(OPS)).json()
    assert {row["tenant"] for row in rows["sessions"]} == {"alpha"}
    assert http.get("/v1/sessions/t-alpha", headers=auth(OPS)).status_code == 200
    events = await sse_events(
        httpx.AsyncClient(base_url=api.url, timeout=30), "/v1/sessions/t-alpha/events",
        headers=auth(OPS),
    )  # fmt: skip
    assert events[-1]["data"]["answer"] == ANSWER

    # the web page: another tenant's session page is the missing page
    page = httpx.Client(base_url=api.url, timeout=30)
    form = page.get("/login")
    token = form.text.split('name="csrf" value="')[1].split('"')[0]
    assert page.post("/login", data={"key": BETA, "csrf": token}).status_code == 303
    assert page.get("/sessions/t-alpha").status_code == 404
    assert "t-alpha" not in page.get("/").text


def test_keys_rotate_in_the_file_without_a_restart(
    stack: Stack, api_process: list[ApiProcess], tmp_path: Path
) -> None:
    path = keys_file(tmp_path)
    api = ApiProcess(stack, DEEPRESEARCH_API_KEYS_FILE=str(path)).wait_ready()
    api_process.append(api)
    http = httpx.Client(base_url=api.url, timeout=30)
    assert http.get("/v1/sessions", headers=auth(BETA)).status_code == 200
    rotated = "beta-key-rotated-9876543210"
    keys_file(tmp_path, beta=rotated)
    deadline = time.monotonic() + 10
    while http.get("/v1/sessions", headers=auth(rotated)).status_code != 200:
        assert time.monotonic() < deadline, "the new key was never accepted"
        time.sleep(0.3)
    assert http.get("/v1/sessions", headers=auth(BETA)).status_code == 403  # the old one is out
    assert http.get("/v1/sessions", headers=auth(ALPHA)).status_code == 200
    # a broken edit keeps the keys it had (and says so in the log)
    path.write_text(f"alpha={ALPHA}\nbeta=short\n")
    time.sleep(1.5)
    assert http.get("/v1/sessions", headers=auth(rotated)).status_code == 200
    assert api.process.poll() is None


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("beta=short", "line 2): the key has 5 characters; use at least 16"),
        (
            "bad tenant!=abcdefghijklmnopqrstuv",
            "line 2): tenant 'bad tenant!' is not a tenant name",
        ),
        (f"beta={ALPHA}", "line 2): the same key is given to two tenants"),
    ],
)
def test_a_bad_keys_file_is_one_line(stack: Stack, tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "keys"
    path.write_text(f"alpha={ALPHA}\n{line}\n")
    result = stack.cli("api", "--port", "1", DEEPRESEARCH_API_KEYS_FILE=str(path), timeout=60)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: invalid setting DEEPRESEARCH_API_KEYS_FILE ({path}, {error}"), (
        last
    )
    assert "Traceback" not in result.stderr


async def test_mcp_over_http_keeps_tenants_apart(stack: Stack, tmp_path: Path) -> None:
    stack.script(QUESTION, [answer()])
    path = keys_file(tmp_path)
    async with http_server(stack, DEEPRESEARCH_API_KEYS_FILE=str(path)) as url:
        async with client_session(url, auth(ALPHA)) as alpha:
            started = await alpha.call_tool("start_research", {"question": QUESTION, "id": "t-mcp"})
            assert structured(started)["status"] == "started"
        async with client_session(url, auth(BETA)) as beta:
            theirs = await beta.call_tool("get_research", {"id": "t-mcp"})
            assert theirs.is_error and "no session with id 't-mcp'" in str(theirs.content)
            with pytest.raises(MCPError, match="no session with id 't-mcp'"):
                await beta.read_resource("deepresearch://sessions/t-mcp/report")
        async with client_session(url, auth(ALPHA)) as alpha:
            mine = await alpha.call_tool("get_research", {"id": "t-mcp"})
            assert not mine.is_error and structured(mine)["status"] in ("running", "completed")


def test_cli_lists_by_tenant(stack: Stack) -> None:
    stack.script(QUESTION, [answer()])
    done = stack.cli("ask", QUESTION, "--id", "t-cli", "--tenant", "gamma", "--json", timeout=180)
    assert done.returncode == 0, done.stderr
    gamma = stack.cli("list", "--tenant", "gamma", "--json")
    assert '"t-cli"' in gamma.stdout and '"tenant": "gamma"' in gamma.stdout
    other = stack.cli("list", "--tenant", "delta", "--json")
    assert '"t-cli"' not in other.stdout
    bad = stack.cli("ask", QUESTION, "--tenant", "no way")
    assert bad.returncode == 2 and bad.stderr.strip().endswith(
        "is not a tenant name (letters, digits, . _ -)"
    )
