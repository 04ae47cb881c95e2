"""Schedules over HTTP against a real API process and worker: `/v1/schedules` creates, lists,
shows (with the runs), pauses, unpauses, triggers and deletes, tenant by tenant (another
tenant's schedule is 404 exactly as a missing one), bad schedules 422 in one line."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.api.conftest import ApiProcess
from tests.api.test_tenants import ALPHA, BETA, OPS, auth, keys_file
from tests.conftest import Stack
from tests.workflow.test_session import QUESTION, answer


def test_schedules_over_http(stack: Stack, api_process: list[ApiProcess], tmp_path: Path) -> None:
    stack.script(QUESTION, [answer()])
    api = ApiProcess(
        stack, "--worker", DEEPRESEARCH_API_KEYS_FILE=str(keys_file(tmp_path)),
        DEEPRESEARCH_ADMIN_TENANTS="ops", DEEPRESEARCH_SCHEDULE_MIN_INTERVAL="1s",
    ).wait_ready()  # fmt: skip
    api_process.append(api)
    http = httpx.Client(base_url=api.url, timeout=30)
    for body, error in (
        ({"question": QUESTION}, "give one of every"),
        ({"question": QUESTION, "every": "soon"}, "every: 'soon' is not a duration"),
        ({"question": QUESTION, "cron": "whenever"}, "invalid schedule:"),
        ({"question": QUESTION, "every": "1h", "mode": "swarm"}, "mode: Input should be"),
        ({"question": QUESTION, "every": "1h", "budget": {}}, "budget: Extra inputs"),
    ):
        refused = http.post("/v1/schedules", json=body, headers=auth(ALPHA))
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"].startswith(error), refused.json()

    body = {"question": QUESTION, "every": "3s", "id": "w-api"}
    created = http.post("/v1/schedules", json=body, headers=auth(ALPHA))
    assert created.status_code == 201, created.text
    assert created.json()["id"] == "w-api" and created.json()["next_runs"]
    again = http.post("/v1/schedules", json=body, headers=auth(ALPHA))
    assert again.status_code == 409, again.text
    for path in ("/v1/schedules/w-api", "/v1/schedules/w-none"):
        assert http.get(path, headers=auth(BETA)).status_code == 404
    assert http.post("/v1/schedules/w-api/pause", headers=auth(BETA)).status_code == 404
    assert http.delete("/v1/schedules/w-api", headers=auth(BETA)).status_code == 404
    ids = [s["id"] for s in http.get("/v1/schedules", headers=auth(BETA)).json()["schedules"]]
    assert "w-api" not in ids
    ids = [s["id"] for s in http.get("/v1/schedules", headers=auth(OPS)).json()["schedules"]]
    assert "w-api" in ids  # an admin sees every tenant's

    deadline = time.monotonic() + 60
    while True:
        view = http.get("/v1/schedules/w-api", headers=auth(ALPHA)).json()
        done = [r["session_id"] for r in view["runs"] if r["status"] == "completed"]
        if done:
            break
        assert time.monotonic() < deadline, view
        time.sleep(0.3)
    run = done[0]
    assert http.get(f"/v1/sessions/{run}", headers=auth(ALPHA)).status_code == 200
    assert http.get(f"/v1/sessions/{run}", headers=auth(BETA)).status_code == 404  # alpha's run
    paused = http.post("/v1/schedules/w-api/pause", headers=auth(ALPHA))
    assert paused.status_code == 200 and paused.json()["paused"]
    unpaused = http.post("/v1/schedules/w-api/unpause", headers=auth(ALPHA))
    assert unpaused.status_code == 200 and not unpaused.json()["paused"]
    assert http.post("/v1/schedules/w-api/trigger", headers=auth(ALPHA)).status_code == 200
    assert http.delete("/v1/schedules/w-api", headers=auth(ALPHA)).status_code == 204
    assert http.get("/v1/schedules/w-api", headers=auth(ALPHA)).json() == {
        "error": "no schedule with id 'w-api'"
    }
