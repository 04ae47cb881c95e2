"""Follow-ups over HTTP against a real API process and worker: `follow_up_of` in POST
/v1/sessions, the links both ways in GET /v1/sessions/{id}, and another tenant's session
answering 404 exactly as a missing one."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.conftest import ApiProcess
from tests.api.test_tenants import ALPHA, BETA, auth, keys_file, wait_done
from tests.conftest import Stack
from tests.workflow.test_follow_up import FOLLOW, FOLLOW_ANSWER, script_follow_ups
from tests.workflow.test_session import ANSWER, QUESTION, answer


def test_a_follow_up_over_http(stack: Stack, api_process: list[ApiProcess], tmp_path: Path) -> None:
    stack.script(QUESTION, [answer()])
    stack.script(FOLLOW, [answer(FOLLOW_ANSWER)])
    script_follow_ups(stack)
    api = ApiProcess(
        stack, "--worker", DEEPRESEARCH_API_KEYS_FILE=str(keys_file(tmp_path))
    ).wait_ready()
    api_process.append(api)
    http = httpx.Client(base_url=api.url, timeout=30)
    body = {"question": QUESTION, "id": "f-api"}
    assert http.post("/v1/sessions", json=body, headers=auth(ALPHA)).status_code == 202
    assert wait_done(http, "f-api", ALPHA)["result"]["answer"] == ANSWER

    theirs = {"question": FOLLOW, "follow_up_of": "f-api"}
    stranger = http.post("/v1/sessions", json=theirs, headers=auth(BETA))
    missing = http.post(
        "/v1/sessions", json={**theirs, "follow_up_of": "f-none"}, headers=auth(BETA)
    )
    assert stranger.status_code == missing.status_code == 404
    assert stranger.json() == {"error": "no session with id 'f-api'"}
    odd = http.post("/v1/sessions", json={**theirs, "follow_up_of": "../x"}, headers=auth(ALPHA))
    assert odd.status_code == 422 and odd.json()["error"].startswith("follow_up_of:")

    mine = {**theirs, "id": "f-api-2"}
    assert http.post("/v1/sessions", json=mine, headers=auth(ALPHA)).status_code == 202
    later = wait_done(http, "f-api-2", ALPHA)
    assert later["result"]["answer"] == FOLLOW_ANSWER and later["follow_up_of"] == "f-api"
    earlier = http.get("/v1/sessions/f-api", headers=auth(ALPHA)).json()
    assert earlier["follow_ups"] == ["f-api-2"] and earlier["follow_up_of"] is None
