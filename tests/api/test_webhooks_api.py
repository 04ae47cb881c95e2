"""Webhooks over HTTP against a real API process and worker: `webhook` in POST /v1/sessions,
the delivery's outcome in GET /v1/sessions/{id}, and bad webhooks refused with 422."""

from __future__ import annotations

import time

import httpx
from standardwebhooks.webhooks import Webhook

from tests.api.conftest import ApiProcess
from tests.conftest import Stack
from tests.workflow.test_session import QUESTION, answer
from tests.workflow.test_webhooks import SECRET, Receiver


def test_a_webhook_over_http(stack: Stack, api_process: list[ApiProcess]) -> None:
    stack.script(QUESTION, [answer()])
    api = ApiProcess(stack, "--worker", DEEPRESEARCH_WEBHOOK_SECRET=SECRET).wait_ready()
    api_process.append(api)
    hook = Receiver([])
    try:
        http = httpx.Client(base_url=api.url, timeout=30)
        for bad, error in (
            ({"url": "http://10.9.8.7/x"}, "webhook.url: refused 'http://10.9.8.7/x'"),
            ({"url": hook.url, "events": ["exploded"]}, "webhook.events.0: Input should be"),
            ({"url": hook.url, "secret": "mine"}, "webhook.secret: Extra inputs"),
            ({"url": "hooks"}, "webhook.url: refused 'hooks'"),
        ):
            refused = http.post("/v1/sessions", json={"question": QUESTION, "webhook": bad})
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"].startswith(error), refused.json()
        body = {"question": QUESTION, "id": "h-api", "webhook": {"url": hook.url}}
        assert http.post("/v1/sessions", json=body).status_code == 202
        hook.wait_for(1)
        headers, sent = hook.received[0]
        assert Webhook(SECRET).verify(sent, headers)["data"]["session_id"] == "h-api"
        deadline = time.monotonic() + 60
        while (
            not (view := http.get("/v1/sessions/h-api").json()).get("webhooks")
            or view["webhooks"][0]["state"] != "delivered"
        ):
            assert time.monotonic() < deadline, view
            time.sleep(0.3)
        assert view["status"] == "completed"
        assert view["webhooks"][0]["event"] == "completed"
        assert view["webhooks"][0]["http_status"] == 200
        plain = http.post("/v1/sessions", json={"question": QUESTION, "id": "h-none"})
        assert plain.status_code == 202
        assert http.get("/v1/sessions/h-none").json()["webhooks"] is None
    finally:
        hook.server.shutdown()
