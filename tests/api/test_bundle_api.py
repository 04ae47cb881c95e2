"""GET /v1/sessions/{id}/bundle against a real API process and worker: the owner gets a zip that
`verify` passes, another tenant's session is 404 exactly as a missing one, a running session
is 409 in one sentence."""

from __future__ import annotations

import zipfile
from pathlib import Path

import httpx

from tests.api.conftest import ApiProcess
from tests.api.test_tenants import ALPHA, BETA, auth, keys_file, wait_done
from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, answer, call
from workers.client.bundle import verify


def test_the_bundle_over_http_is_its_tenants_alone(
    stack: Stack, api_process: list[ApiProcess], tmp_path: Path
) -> None:
    page = f"{stack.jina.url}/page/turing-1"
    stack.script(QUESTION, [call("visit", {"url": [page], "goal": "who won"}), answer()])
    api = ApiProcess(
        stack, "--worker", DEEPRESEARCH_API_KEYS_FILE=str(keys_file(tmp_path))
    ).wait_ready()
    api_process.append(api)
    http = httpx.Client(base_url=api.url, timeout=60)
    body = {"question": QUESTION, "id": "b-api"}
    assert http.post("/v1/sessions", json=body, headers=auth(ALPHA)).status_code == 202
    assert wait_done(http, "b-api", ALPHA)["result"]["answer"] == ANSWER

    mine = http.get("/v1/sessions/b-api/bundle", headers=auth(ALPHA))
    assert mine.status_code == 200, mine.text
    assert mine.headers["content-type"] == "application/zip"
    assert mine.headers["content-disposition"] == 'attachment; filename="b-api.zip"'
    path = tmp_path / "b-api.zip"
    path.write_bytes(mine.content)
    assert verify(path).mismatches == []
    with zipfile.ZipFile(path) as archive:
        assert archive.read("answer.md").decode() == ANSWER
        assert "sources/01/page.txt" in archive.namelist()  # no report: every page read

    theirs = http.get("/v1/sessions/b-api/bundle", headers=auth(BETA))
    missing = http.get("/v1/sessions/b-none/bundle", headers=auth(BETA))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == {"error": "no session with id 'b-api'"}
    assert http.get("/v1/sessions/b-api/bundle").status_code == 401

    stack.script("A slow one?", [answer()])
    # the session still runs when its bundle is asked for (its model call is slow; the
    # endpoint's health check, before the start, is not)
    stack.model.first_token_delay = 3.0
    slow = {"question": "A slow one?", "id": "b-bundle-running"}
    started = http.post("/v1/sessions", json=slow, headers=auth(ALPHA))
    assert started.status_code == 202, started.text
    running = http.get("/v1/sessions/b-bundle-running/bundle", headers=auth(ALPHA))
    assert running.status_code == 409
    assert running.json() == {
        "error": "session b-bundle-running has not completed; nothing to bundle"
    }
    stack.model.first_token_delay = 0.0
    assert wait_done(http, "b-bundle-running", ALPHA)["status"] == "completed"
