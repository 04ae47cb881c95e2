"""Forks over HTTP against a real API process and worker: POST /v1/sessions/{id}/fork, the
links both ways in GET /v1/sessions/{id}, GET /v1/sessions/compare, another tenant's session
answering 404 exactly as a missing one, and the refusals in one line."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.conftest import ApiProcess
from tests.api.test_tenants import ALPHA, BETA, auth, keys_file, wait_done
from tests.conftest import Stack
from tests.workflow.test_fork import FORK_ANSWER, FORK_MODEL, script_fork, six_steps
from tests.workflow.test_session import ANSWER, QUESTION


def test_a_fork_over_http(stack: Stack, api_process: list[ApiProcess], tmp_path: Path) -> None:
    stack.script(QUESTION, six_steps(stack))
    script_fork(stack)
    api = ApiProcess(
        stack, "--worker", DEEPRESEARCH_API_KEYS_FILE=str(keys_file(tmp_path))
    ).wait_ready()
    api_process.append(api)
    http = httpx.Client(base_url=api.url, timeout=30)
    body = {"question": QUESTION, "id": "k-api"}
    assert http.post("/v1/sessions", json=body, headers=auth(ALPHA)).status_code == 202
    assert wait_done(http, "k-api", ALPHA)["result"]["answer"] == ANSWER

    fork = {"at_step": 3, "model": FORK_MODEL, "id": "k-api-fork"}
    stranger = http.post("/v1/sessions/k-api/fork", json=fork, headers=auth(BETA))
    missing = http.post("/v1/sessions/k-none/fork", json=fork, headers=auth(BETA))
    assert stranger.status_code == missing.status_code == 404
    assert stranger.json() == {"error": "no session with id 'k-api'"}
    peek = http.get("/v1/sessions/compare", params={"a": "k-api", "b": "k-api"}, headers=auth(BETA))
    assert peek.status_code == 404

    far = http.post("/v1/sessions/k-api/fork", json={"at_step": 9}, headers=auth(ALPHA))
    assert far.status_code == 409 and "fork it at a step from 1 to 5" in far.json()["error"]
    zero = http.post("/v1/sessions/k-api/fork", json={"at_step": 0}, headers=auth(ALPHA))
    assert zero.status_code == 422 and zero.json()["error"].startswith("at_step:")
    odd = http.post("/v1/sessions/k-api/fork", json={**fork, "tenant": "beta"}, headers=auth(ALPHA))
    assert odd.status_code == 422  # a fork is the caller's tenant's: it cannot name another

    started = http.post("/v1/sessions/k-api/fork", json=fork, headers=auth(ALPHA))
    assert started.status_code == 202, started.text
    assert started.json() == {
        "id": "k-api-fork", "status": "started", "forked_from": "k-api", "at_step": 3,
        "heavy": False, "live_from": 4,
    }  # fmt: skip
    assert started.headers["location"] == "/v1/sessions/k-api-fork"
    done = wait_done(http, "k-api-fork", ALPHA)
    assert done["result"]["answer"] == FORK_ANSWER
    assert done["forked_from"] == {"session": "k-api", "step": 3}
    assert http.get("/v1/sessions/k-api", headers=auth(ALPHA)).json()["forks"] == ["k-api-fork"]
    assert http.get("/v1/sessions/k-api-fork", headers=auth(BETA)).status_code == 404

    compared = http.get(
        "/v1/sessions/compare", params={"a": "k-api", "b": "k-api-fork"}, headers=auth(ALPHA)
    )
    assert compared.status_code == 200, compared.text
    result = compared.json()
    assert result["diverge_at_step"] == 4 and result["b"]["answer"] == FORK_ANSWER
    timeline = http.get("/v1/sessions/k-api-fork/timeline", headers=auth(ALPHA)).json()
    assert sum(step.get("from") == "k-api" for step in timeline["steps"]) == 6
