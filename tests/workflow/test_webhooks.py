"""Webhooks against a real dev server, a worker process and a real loopback HTTP receiver: the
signature checked by an independent implementation of the spec (`standardwebhooks`), retries
with the same `webhook-id` until the receiver takes it, a 4xx that stops them, the outcome in
`show`, and the URLs and settings refused in one line."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, answer, ask_json, call

SECRET = "whsec_" + base64.b64encode(b"webhook-test-secret-0123").decode()


class Receiver:
    """A loopback receiver answering the scripted statuses in turn (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/dr"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} deliveries"
            time.sleep(0.1)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made: list[Receiver] = []

    def make(statuses: list[int]) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make  # type: ignore[misc]
    for one in made:
        one.server.shutdown()


def test_a_completed_session_is_delivered_signed_after_two_failures(
    stack: Stack, receiver: object
) -> None:
    hook = receiver([500, 500])  # type: ignore[operator]
    stack.script(QUESTION, [call("search", {"query": ["turing award 2024"]}), answer()])
    env = {"DEEPRESEARCH_WEBHOOK_SECRET": SECRET, "DEEPRESEARCH_PUBLIC_URL": "https://dr.example"}
    worker = stack.spawn_worker("worker-webhook.log", **env)
    try:
        report = ask_json(
            stack, "--id", "s-hook", "--no-worker", "--webhook", hook.url,
            "--webhook-events", "completed,failed", **env,
        )  # fmt: skip
        assert report["answer"] == ANSWER
        hook.wait_for(3)
        time.sleep(0.5)
        assert len(hook.received) == 3  # two 500s, then the 200: nothing after it
        ids = {headers["webhook-id"] for headers, _ in hook.received}
        assert len(ids) == 1 and ids.pop().startswith("s-hook-webhook-completed-")
        for headers, body in hook.received:
            payload = Webhook(SECRET).verify(body, headers)  # raises unless signed right
            assert headers["content-type"] == "application/json"
        assert payload["type"] == "session.completed"
        data = payload["data"]
        assert (data["session_id"], data["status"], data["termination"]) == (
            "s-hook", "completed", "answer"
        )  # fmt: skip
        assert data["answer"] == ANSWER and data["question"] == QUESTION
        assert data["links"] == {
            "session": "https://dr.example/v1/sessions/s-hook",
            "page": "https://dr.example/sessions/s-hook",
        }
        assert data["spent"]["searches"] == 1
        assert SECRET not in json.dumps(payload) and SECRET.encode() not in body
        shown = stack.cli("show", "s-hook", **env)
        assert shown.returncode == 0, shown.stderr
        assert "webhook completed: delivered (HTTP 200, 3 attempt(s))" in shown.stdout
        viewed = json.loads(stack.cli("show", "s-hook", "--json", **env).stdout)
        assert [w["state"] for w in viewed["webhooks"]] == ["delivered"]

        # a receiver answering 410 is not asked again: the delivery fails, the session stands
        gone = receiver([410])  # type: ignore[operator]
        stack.model.scripts.clear()
        stack.script(QUESTION, [answer()])
        again = ask_json(stack, "--id", "s-hook-gone", "--no-worker", "--webhook", gone.url, **env)
        assert again["termination"] == "answer"
        gone.wait_for(1)
        deadline = time.monotonic() + 30
        while True:
            view = json.loads(stack.cli("show", "s-hook-gone", "--json", **env).stdout)
            if view.get("webhooks") and view["webhooks"][0]["state"] != "delivering":
                break
            assert time.monotonic() < deadline, view.get("webhooks")
            time.sleep(0.3)
        assert view["webhooks"][0]["state"] == "failed"
        assert "webhook receiver answered HTTP 410" in view["webhooks"][0]["error"]
        assert len(gone.received) == 1
    finally:
        worker.terminate()
        worker.wait(20)


def test_webhook_urls_and_settings_refused_in_one_line(stack: Stack) -> None:
    env = {"DEEPRESEARCH_WEBHOOK_SECRET": SECRET}
    loopback = stack.cli(
        "ask", QUESTION, "--webhook", "http://127.0.0.1:9/hook", "--detach",
        DEEPRESEARCH_ALLOW_LOOPBACK="0", **env,
    )  # fmt: skip
    assert loopback.returncode == 2, loopback.stderr
    assert "webhook.url: refused 'http://127.0.0.1:9/hook'" in loopback.stderr
    assert "loopback" in loopback.stderr and "Traceback" not in loopback.stderr
    private = stack.cli("ask", QUESTION, "--webhook", "http://10.1.2.3/hook", "--detach", **env)
    assert private.returncode == 2 and "webhook.url: refused" in private.stderr
    scheme = stack.cli("ask", QUESTION, "--webhook", "ftp://hooks.example/x", "--detach", **env)
    assert scheme.returncode == 2 and "only http and https" in scheme.stderr
    unsigned = stack.cli("ask", QUESTION, "--webhook", "https://hooks.example/x", "--detach")
    assert unsigned.returncode == 2
    assert "webhooks are signed: set DEEPRESEARCH_WEBHOOK_SECRET" in unsigned.stderr
    event = stack.cli(
        "ask", QUESTION, "--webhook", "https://hooks.example/x", "--webhook-events", "exploded",
        **env,
    )  # fmt: skip
    assert event.returncode == 2 and "--webhook-events: 'exploded' is not one of" in event.stderr
    bad = stack.cli(
        "ask", QUESTION, "--webhook", "https://h.example", DEEPRESEARCH_WEBHOOK_SECRET="x"
    )
    assert bad.returncode == 2
    assert (
        "invalid setting DEEPRESEARCH_WEBHOOK_SECRET" in bad.stderr
        and "x" not in bad.stderr.split(":")[-1]
    )


def test_awaiting_budget_then_cancelled_each_announced(stack: Stack, receiver: object) -> None:
    """A session that pauses for budget says so (with the bound that ran out); cancelled while
    it waits, it says that too: two messages, two ids, in order."""
    hook = receiver([])  # type: ignore[operator]
    stack.script(
        QUESTION,
        [call("search", {"query": ["first"]}), call("search", {"query": ["second"]}), answer()],
    )
    env = {"DEEPRESEARCH_WEBHOOK_SECRET": SECRET}
    worker = stack.spawn_worker("worker-webhook-2.log", **env)
    try:
        started = stack.cli(
            "ask", QUESTION, "--id", "s-hook-pause", "--detach", "--no-worker",
            "--budget-searches", "1", "--on-budget", "pause", "--webhook", hook.url,
            "--webhook-events", "awaiting_budget,cancelled", **env,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        hook.wait_for(1)
        headers, body = hook.received[0]
        waiting = Webhook(SECRET).verify(body, headers)
        assert waiting["type"] == "session.awaiting_budget"
        assert (waiting["data"]["status"], waiting["data"]["reason"]) == (
            "awaiting_budget",
            "searches",
        )
        cancelled = stack.cli("cancel", "s-hook-pause", "--reason", "enough", **env)
        assert cancelled.returncode == 0, cancelled.stderr
        report = ask_json(stack, "--id", "s-hook-pause", "--no-worker", **env)
        assert report["termination"] == "cancelled"
        hook.wait_for(2)
    finally:
        worker.terminate()
        worker.wait(20)
    headers, body = hook.received[1]
    done = Webhook(SECRET).verify(body, headers)
    assert done["type"] == "session.cancelled" and done["data"]["termination"] == "cancelled"
    ids = [h["webhook-id"] for h, _ in hook.received]
    assert len(set(ids)) == 2 and "-awaiting_budget-" in ids[0] and "-cancelled-" in ids[1]


def test_a_failed_session_is_announced_with_its_error(stack: Stack, receiver: object) -> None:
    hook = receiver([])  # type: ignore[operator]
    stack.script(QUESTION, [answer()])
    stack.model.fail_next(100, status=503)
    env = {"DEEPRESEARCH_WEBHOOK_SECRET": SECRET, "DEEPRESEARCH_MODEL_ATTEMPTS": "2"}
    failed = stack.cli("ask", QUESTION, "--id", "s-hook-fail", "--webhook", hook.url, **env)
    assert failed.returncode == 1 and "session s-hook-fail failed" in failed.stderr
    hook.wait_for(1)
    headers, body = hook.received[0]
    message = Webhook(SECRET).verify(body, headers)
    assert message["type"] == "session.failed" and message["data"]["status"] == "failed"
    assert "HTTP 503" in message["data"]["error"]
