"""Plans over HTTP against a real API process and worker: `"plan": true` in POST /v1/sessions,
the plan in GET /v1/sessions/{id}, its `awaiting_approval` webhook (verified by the
standardwebhooks package), approve and reject with their one-line refusals."""

from __future__ import annotations

import time

import httpx
from standardwebhooks.webhooks import Webhook

from graphs import prompts
from tests.api.conftest import ApiProcess
from tests.conftest import Stack
from tests.workflow.test_plan import DRAFT, REPLY, first_user_message
from tests.workflow.test_session import ANSWER, QUESTION, answer
from tests.workflow.test_webhooks import SECRET, Receiver


def wait_for(http: httpx.Client, session_id: str, status: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while True:
        view = http.get(f"/v1/sessions/{session_id}").json()
        if (view.get("plan") or {}).get("status") == status:
            return view
        assert time.monotonic() < deadline, view
        time.sleep(0.3)


def test_a_plan_over_http(stack: Stack, api_process: list[ApiProcess]) -> None:
    stack.script(QUESTION, [answer()])
    stack.model.plans[QUESTION] = DRAFT
    api = ApiProcess(stack, "--worker", DEEPRESEARCH_WEBHOOK_SECRET=SECRET).wait_ready()
    api_process.append(api)
    hook = Receiver([])
    try:
        http = httpx.Client(base_url=api.url, timeout=30)
        heavy = {"question": QUESTION, "plan": True, "mode": "heavy"}
        refused = http.post("/v1/sessions", json=heavy)
        assert refused.status_code == 422
        assert refused.json()["error"] == "plan is for single sessions (not mode heavy)"
        body = {
            "question": QUESTION, "id": "p-api", "plan": True,
            "webhook": {"url": hook.url, "events": ["awaiting_approval", "completed"]},
        }  # fmt: skip
        assert http.post("/v1/sessions", json=body).status_code == 202
        view = wait_for(http, "p-api", "awaiting_approval")
        assert view["status"] == "running" and view["progress"]["node"] == "awaiting_approval"
        assert view["plan"]["questions"] == ["The award announced in 2024 or the one for 2024?"]
        hook.wait_for(1)
        headers, sent = hook.received[0]
        data = Webhook(SECRET).verify(sent, headers)["data"]
        assert data["event"] == "awaiting_approval" and data["plan"] == view["plan"]["plan"]
        assert data["questions"] == view["plan"]["questions"]

        empty = http.post("/v1/sessions/p-api/approve", json={"plan": " "})
        assert empty.status_code == 422, empty.text
        assert "the edited plan is empty" in empty.json()["error"]
        odd = http.post("/v1/sessions/p-api/approve", json={"plans": "x"})
        assert odd.status_code == 422 and "plans" in odd.json()["error"]
        missing = http.post("/v1/sessions/p-none/approve", json={})
        assert missing.status_code == 404
        approved = http.post("/v1/sessions/p-api/approve", json={"answers": [REPLY]})
        assert approved.status_code == 200, approved.text
        assert approved.json()["plan"]["status"] == "approved"
        done = wait_for(http, "p-api", "approved")
        deadline = time.monotonic() + 60
        while (done := http.get("/v1/sessions/p-api").json())["status"] == "running":
            assert time.monotonic() < deadline, done
            time.sleep(0.3)
        assert done["result"]["answer"] == ANSWER
        assert done["plan"]["answers"] == [REPLY] and not done["plan"]["edited"]
        late = http.post("/v1/sessions/p-api/reject", json={"reason": "late"})
        assert late.status_code == 409 and "is not running" in late.json()["error"]
        assert first_user_message(stack).startswith(f"{QUESTION}\n\n{prompts.PLAN_APPROVED}\n")

        body = {"question": QUESTION, "id": "p-api-no", "plan": True}
        assert http.post("/v1/sessions", json=body).status_code == 202
        wait_for(http, "p-api-no", "awaiting_approval")
        rejected = http.post("/v1/sessions/p-api-no/reject", json={"reason": "not this"})
        assert rejected.status_code == 200, rejected.text
        assert (
            rejected.json()["plan"] | {"status": "rejected", "note": "not this"}
            == (rejected.json()["plan"])
        )
        again = http.post("/v1/sessions/p-api-no/approve", json={})
        assert again.status_code == 409, again.text  # decided, or ended already
    finally:
        hook.server.shutdown()
