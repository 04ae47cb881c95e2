"""The /v1 endpoints against a real uvicorn on loopback, a real dev server, an in-process
worker and the loopback fakes: each answers what the session layer (and the CLI) would."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx

from tests.api.conftest import Api, serve, settings_of
from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, answer, call, four_call_script
from workers.hosting.devserver import free_port

# A multipart form must carry the web page's CSRF header (the guard refuses it otherwise).
PAGE = {"X-DeepResearch-CSRF": "1"}


async def wait_status(
    api: Api, session_id: str, status: str, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = (await api.http.get(f"/v1/sessions/{session_id}")).json()
        if view["status"] == status:
            return view
        assert time.monotonic() < deadline, f"{session_id} never became {status}: {view}"
        await asyncio.sleep(0.1)


async def test_session_start_attach_view_timeline_export(stack: Stack, api: Api) -> None:
    stack.script(QUESTION, four_call_script(stack))
    started = await api.http.post("/v1/sessions", json={"question": QUESTION, "id": "a-basic"})
    assert started.status_code == 202, started.text
    assert started.json() == {"id": "a-basic", "status": "started", "heavy": False}
    assert started.headers["location"] == "/v1/sessions/a-basic"

    view = await wait_status(api, "a-basic", "completed")
    result = view["result"]
    assert result["answer"] == ANSWER and result["termination"] == "answer"
    assert result["sources"] == [f"{stack.jina.url}/page/turing-{i}" for i in (1, 2)]
    assert (result["llm_calls"], result["tool_calls"]) == (3, 4)
    assert result["report_markdown"] is None
    assert "trajectory" not in result and "tail" not in result
    assert view["question"] == QUESTION and view["closed"] and view["error"] is None

    again = await api.http.post("/v1/sessions", json={"question": QUESTION, "id": "a-basic"})
    assert again.status_code == 200
    assert again.json()["status"] == "completed"
    assert len(stack.model.research_requests()) == 3  # attached: nothing ran twice

    timeline = (await api.http.get("/v1/sessions/a-basic/timeline")).json()
    assert timeline["session_id"] == "a-basic" and timeline["status"] == "completed"
    assert [step["node"] for step in timeline["steps"]].count("think") == 3
    assert not [step for step in timeline["steps"] if "worker" in step]  # no pid@host shown
    assert timeline["report"]["answer"] == ANSWER
    record = (await api.http.get("/v1/sessions/a-basic/export")).json()
    assert record["prediction"] == ANSWER and record["termination"] == "answer"
    assert record["messages"][0]["role"] == "system"


async def test_running_view_then_steer_and_cancel(stack: Stack, api: Api) -> None:
    stack.script(QUESTION, [call("search", {"query": ["turing"]}), answer("Best guess: Sutton.")])
    stack.serper.latency = 3
    started = await api.http.post("/v1/sessions", json={"question": QUESTION, "id": "a-live"})
    assert started.status_code == 202
    deadline = time.monotonic() + 60
    while True:  # the first search is in flight: the view shows live progress
        view = (await api.http.get("/v1/sessions/a-live")).json()
        if view["progress"] and view["progress"]["tool_calls"] >= 1:
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert view["status"] == "running" and view["result"] is None
    assert view["progress"]["kind"] == "research" and view["progress"]["llm_calls"] >= 1
    steered = await api.http.post("/v1/sessions/a-live/steer", json={"note": "Focus on 2024."})
    assert steered.status_code == 202 and steered.json() == {"id": "a-live", "status": "steered"}
    empty = await api.http.post("/v1/sessions/a-live/steer", json={"note": "  "})
    assert empty.status_code == 422 and empty.json() == {"error": "the note is empty"}
    cancelled = await api.http.post("/v1/sessions/a-live/cancel", json={"reason": "enough"})
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelling"
    view = await wait_status(api, "a-live", "completed")
    assert view["result"]["termination"] == "cancelled"
    assert view["result"]["answer"] == "Best guess: Sutton."
    late = await api.http.post("/v1/sessions/a-live/cancel", json={})
    assert late.status_code == 409
    assert late.json() == {"error": "session a-live is not running (it is completed)"}
    seen = "\n".join(str(m["content"]) for r in stack.model.research_requests()
                     for m in r.body["messages"])  # fmt: skip
    assert "Focus on 2024." in seen


async def test_errors_are_one_sentence_json(stack: Stack, api: Api) -> None:
    async def error(method: str, path: str, status: int, **kwargs: Any) -> str:
        response = await api.http.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        body = response.json()
        assert list(body) == ["error"] and "\n" not in body["error"], body
        assert "Traceback" not in response.text
        return body["error"]

    assert await error("GET", "/v1/sessions/a-nope", 404) == "no session with id 'a-nope'"
    assert await error("GET", "/v1/sessions/a-nope/timeline", 404)
    assert await error("POST", "/v1/sessions/a-nope/cancel", 404, json={})
    assert await error("GET", "/v1/sessions/a-nope/events", 404)
    assert await error("POST", "/v1/sessions", 422, json={"question": "  "}) == (
        "the question is empty"
    )
    assert await error("POST", "/v1/sessions", 422, json={}) == "question: Field required"
    assert "mode" in await error("POST", "/v1/sessions", 422, json={"question": "Q", "mode": "x"})
    assert "Heavy mode" in await error(
        "POST", "/v1/sessions", 422, json={"question": "Q", "strategy": "iterative,react"}
    )
    assert "limits" in await error(
        "POST", "/v1/sessions", 422, json={"question": "Q", "limits": {"max_tokens": 5}}
    )
    assert "id" in await error("POST", "/v1/sessions", 422, json={"question": "Q", "id": "a b/c"})
    assert await error("POST", "/v1/sessions", 422, content=b"{not json",
                       headers={"content-type": "application/json"})  # fmt: skip
    assert "application/json" in await error(
        "POST", "/v1/sessions", 415, content=b"q", headers={"content-type": "text/plain"}
    )
    assert await error("GET", "/v1/sessions?status=bogus", 422) == (
        "invalid --status 'bogus': choose from running, completed, failed, cancelled, "
        "terminated, timed-out"
    )
    assert "cursor" in await error("GET", "/v1/sessions?cursor=%%%", 422)
    assert await error("GET", "/v1/nothing-here", 404) == "no such resource"
    assert await error("DELETE", "/v1/sessions", 405) == "method not allowed"
    # a failed session: 200 with its failure; resume of a running or completed one: 409
    question = "A question with no script"  # the fake model answers 400: the session fails
    failed = await api.http.post("/v1/sessions", json={"question": question, "id": "a-failed"})
    assert failed.status_code == 202
    view = await wait_status(api, "a-failed", "failed", timeout=120)
    assert view["error"].startswith("session a-failed failed: ") and view["result"] is None
    assert "has not completed" in await error("GET", "/v1/sessions/a-failed/export", 409)
    resumed = await api.http.post("/v1/sessions/a-failed/resume", json={})
    assert resumed.status_code == 202
    assert resumed.json() == {"id": "a-failed", "status": "started", "resumed_at": 1}
    await wait_status(api, "a-failed", "failed", timeout=120)
    assert await error("POST", "/v1/sessions/a-nope/resume", 404, json={})


async def test_list_filters_and_pages(stack: Stack, api: Api) -> None:
    for i in range(3):
        question = f"Paging question number {i} about quokkas"
        stack.script(question, [answer(f"answer {i}")])
        response = await api.http.post(
            "/v1/sessions", json={"question": question, "id": f"a-page-{i}"}
        )
        assert response.status_code == 202
    for i in range(3):
        await wait_status(api, f"a-page-{i}", "completed")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"q": "quokkas", "status": "completed", "limit": 2, "since": "1h"}
        if cursor:
            params["cursor"] = cursor
        page = (await api.http.get("/v1/sessions", params=params)).json()
        assert len(page["sessions"]) <= 2
        seen += [row["session_id"] for row in page["sessions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["a-page-0", "a-page-1", "a-page-2"]
    row = (await api.http.get("/v1/sessions", params={"q": "quokkas", "limit": 1})).json()
    assert row["sessions"][0]["question"].startswith("Paging question number")
    assert row["sessions"][0]["status"] == "completed"
    none = (await api.http.get("/v1/sessions", params={"q": "quokkas", "status": "running"})).json()
    assert none == {"sessions": [], "next_cursor": None}
    # the words of q, whatever else it holds, never the store's query syntax
    for q, count in [('"quokkas', 3), ("(Quokkas*, number", 3), ("quokkas NEAR(", 0),
                     ("quokkas' OR '1'='1", 0)]:  # fmt: skip
        found = await api.http.get("/v1/sessions", params={"q": q})
        assert found.status_code == 200, (q, found.text)
        assert len(found.json()["sessions"]) == count, q
    words = await api.http.get("/v1/sessions", params={"q": '"" *'})
    assert words.status_code == 422 and "give words" in words.json()["error"]
    for since in ("1e20d", "infd", "nanm", "-5h"):
        bounded = await api.http.get("/v1/sessions", params={"since": since})
        assert bounded.status_code == 422, (since, bounded.text)
        assert bounded.json()["error"].startswith(f"invalid --since '{since}'")


async def test_multipart_upload_reaches_parse_file(stack: Stack, api: Api) -> None:
    stack.script(QUESTION, [call("parse_file", {"files": ["notes.txt"]}), answer()])
    files = [("files[]", ("../../etc/notes.txt", b"The 2024 Turing Award went to Barto.\n"))]
    data = {"question": QUESTION, "id": "a-upload", "limits": '{"max_llm_calls": 5}'}
    response = await api.http.post("/v1/sessions", data=data, files=files, headers=PAGE)
    assert response.status_code == 202, response.text
    view = await wait_status(api, "a-upload", "completed")
    assert view["result"]["answer"] == ANSWER
    first, second = stack.model.research_requests()
    assert first.body["messages"][1]["content"] == f"(Uploaded 1 file: ['notes.txt'])\n\n{QUESTION}"
    assert (
        "# File: notes.txt\nThe 2024 Turing Award went to Barto."
        in (second.body["messages"][-1]["content"])
    )
    twice = [("files[]", ("a.txt", b"1")), ("files[]", ("dir/a.txt", b"2"))]
    refused = await api.http.post(
        "/v1/sessions", data={"question": QUESTION}, files=twice, headers=PAGE
    )
    assert refused.status_code == 422
    assert refused.json() == {"error": "two files are named 'a.txt'; rename one"}
    bad_limits = await api.http.post(
        "/v1/sessions", data={"question": QUESTION, "limits": "{"}, files=twice[:1], headers=PAGE
    )
    assert bad_limits.status_code == 422 and "limits" in bad_limits.json()["error"]
    other = await api.http.post("/v1/sessions", data={"question": QUESTION}, headers=PAGE,
                                files=[("attachment", ("x.txt", b"1"))])  # fmt: skip
    assert other.status_code == 422 and "files[]" in other.json()["error"]


async def test_openapi_docs_and_health(api: Api) -> None:
    schema = (await api.http.get("/openapi.json")).json()
    paths = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    assert {
        ("/v1/sessions", "post"),
        ("/v1/sessions", "get"),
        ("/v1/sessions/{session_id}", "get"),
        ("/v1/sessions/{session_id}/timeline", "get"),
        ("/v1/sessions/{session_id}/export", "get"),
        ("/v1/sessions/{session_id}/events", "get"),
        ("/v1/sessions/{session_id}/cancel", "post"),
        ("/v1/sessions/{session_id}/steer", "post"),
        ("/v1/sessions/{session_id}/resume", "post"),
        ("/healthz", "get"),
    } <= paths
    body = schema["paths"]["/v1/sessions"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    components = schema["components"]["schemas"]
    assert {"SessionRequest", "SessionUpload", "Limits", "SessionView", "ErrorOut"} <= set(
        components
    )
    assert "files[]" in components["SessionUpload"]["properties"]
    for path, ops in schema["paths"].items():
        for op in ops.values():
            assert op.get("summary") or op.get("description"), path
    docs = await api.http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    # served from this server, under a policy that runs no other site's script
    assert "script-src 'self';" in docs.headers["content-security-policy"]
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', docs.text))
    for asset in re.findall(r'(?:src|href)="([^"]*)"', docs.text):
        assert (await api.http.get(asset)).status_code == 200, asset
    health = await api.http.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "temporal": "reachable", "worker": True}


async def test_health_while_temporal_is_unreachable(stack: Stack) -> None:
    """The API starts without Temporal, says so (503) and connects once Temporal is there."""
    dead = f"127.0.0.1:{free_port()}"
    async for url, _ in serve(settings_of(stack, TEMPORAL_ADDRESS=dead), worker=False):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            health = await http.get("/healthz")
            assert health.status_code == 503
            assert health.json()["temporal"] == "unreachable"
            listed = await http.get("/v1/sessions")
            assert listed.status_code == 503
            assert listed.json()["error"].startswith("Temporal is not reachable: cannot reach")
