"""Schedules against a real dev server (Temporal Schedules), worker processes and the loopback
fakes: a schedule runs, a worker killed between runs loses nothing, the run after a page
changed reports it and sends a `changed` webhook (verified by the standardwebhooks package),
pause stops the runs, delete removes the schedule; bad schedules are one line."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.conftest import Stack
from tests.workflow.test_session import answer, call
from tests.workflow.test_webhooks import SECRET, Receiver

WATCHED = "What does the watched page say now?"
ENV = {"DEEPRESEARCH_WEBHOOK_SECRET": SECRET, "DEEPRESEARCH_SCHEDULE_MIN_INTERVAL": "1s"}


def shown(stack: Stack, schedule_id: str) -> dict[str, Any]:
    result = stack.cli("schedule", "show", schedule_id, "--json", **ENV)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_for_run(stack: Stack, after: float, timeout: float = 90) -> dict[str, Any]:
    """The first completed run of `watch` started after `after` (a Unix time)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = shown(stack, "watch")["runs"]
        done = [
            r for r in runs
            if r["status"] == "completed" and time_of(r["started"]) > after
        ]  # fmt: skip
        if done:
            return min(done, key=lambda r: r["started"])
        assert time.monotonic() < deadline, runs
        time.sleep(0.3)


def settle(stack: Stack, timeout: float = 90) -> None:
    """Pause `watch` and wait until none of its runs is running."""
    assert stack.cli("schedule", "pause", "watch", **ENV).returncode == 0
    deadline = time.monotonic() + timeout
    while True:
        runs = shown(stack, "watch")["runs"]
        if not any(r["status"] == "running" for r in runs):
            return
        assert time.monotonic() < deadline, runs
        time.sleep(0.3)


def time_of(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def report_of(stack: Stack, session_id: str) -> dict[str, Any]:
    result = stack.cli("show", session_id, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["report"]


def test_a_schedule_compares_its_runs_and_survives_a_restart(stack: Stack) -> None:
    hook = Receiver([])
    try:
        check_a_schedule(stack, hook)
    finally:
        hook.server.shutdown()


def check_a_schedule(stack: Stack, hook: Receiver) -> None:
    page = f"{stack.jina.url}/page/watched"
    stack.jina.pages["/page/watched"] = "# Watched\n\nThe first version of the page."
    stack.script(WATCHED, [call("visit", {"url": [page], "goal": "what it says"}), answer()])
    began = time.time()
    worker = stack.spawn_worker("worker-schedule.log", **ENV)
    try:
        created = stack.cli(
            "schedule", "create", WATCHED, "--every", "4s", "--id", "watch",
            "--webhook", hook.url, "--json", **ENV,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        view = json.loads(created.stdout)
        assert (view["every"], view["notify"], view["paused"]) == ("4s", "changed", False)
        first = wait_for_run(stack, began)
        assert report_of(stack, first["session_id"])["comparison"]["previous"] is None
        settle(stack)  # paused, every run read the first version
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(20)
    changed_at = time.time()
    stack.jina.pages["/page/watched"] = "# Watched\n\nThe second version: it changed."
    assert hook.received == []  # notify changed: nothing for a first run
    assert stack.cli("schedule", "unpause", "watch", **ENV).returncode == 0
    time.sleep(5)  # a run falls due while no worker runs
    worker = stack.spawn_worker("worker-schedule-2.log", **ENV)
    try:
        second = wait_for_run(stack, changed_at)
        report = report_of(stack, second["session_id"])
        comparison = report["comparison"]
        assert comparison["changed"] == [page] and not comparison["answer_changed"]
        assert comparison["previous"] is not None and comparison["new"] == []
        assert report["schedule_id"] == "watch"
        hook.wait_for(1)
        headers, body = hook.received[0]
        data = Webhook(SECRET).verify(body, headers)["data"]
        assert data["event"] == "changed" and data["comparison"]["changed"] == [page]
        assert data["session_id"] == second["session_id"]
        text = stack.cli("show", second["session_id"]).stdout
        assert f"changed page: {page}" in text and "a run of schedule watch" in text

        paused = stack.cli("schedule", "pause", "watch", **ENV)
        assert paused.returncode == 0, paused.stderr
        time.sleep(1)  # a run that was starting as it paused
        runs = {r["session_id"] for r in shown(stack, "watch")["runs"]}
        time.sleep(9)
        after = shown(stack, "watch")
        assert after["paused"] and {r["session_id"] for r in after["runs"]} == runs
    finally:
        worker.terminate()
        worker.wait(20)
    listed = json.loads(stack.cli("schedule", "list", "--json", **ENV).stdout)["schedules"]
    assert "watch" in [s["id"] for s in listed]
    deleted = stack.cli("schedule", "delete", "watch", **ENV)
    assert deleted.returncode == 0, deleted.stderr
    listed = json.loads(stack.cli("schedule", "list", "--json", **ENV).stdout)["schedules"]
    assert "watch" not in [s["id"] for s in listed]
    gone = stack.cli("schedule", "show", "watch", **ENV)
    assert gone.returncode == 2 and "no schedule with id 'watch'" in gone.stderr
    assert report_of(stack, second["session_id"])["answer"]  # its runs stay, as sessions


def test_bad_schedules_are_one_line(stack: Stack) -> None:
    for args, error in (
        (["create", WATCHED], "give one of every (an interval such as 1d) or cron"),
        (["create", WATCHED, "--every", "1m"], "every: 1m is shorter than 300 s"),
        (["create", WATCHED, "--every", "5x"], "every: '5x' is not a duration"),
        (["create", WATCHED, "--every", "1h", "--cron", "0 8 * * *"], "give one of every"),
        (["create", WATCHED, "--cron", "every now and then"], "invalid schedule:"),
        (["create", WATCHED, "--every", "1h", "--notify", "sometimes"], "notify:"),
        (["create", " ", "--every", "1h"], "the question is empty"),
        (["create", WATCHED, "--every", "1h", "--webhook", "http://10.1.2.3/x"], "refused"),
        (["show", "nope"], "no schedule with id 'nope'"),
        (["pause", "nope"], "no schedule with id 'nope'"),
        (["delete", "nope"], "no schedule with id 'nope'"),
    ):
        result = stack.cli("schedule", *args, DEEPRESEARCH_WEBHOOK_SECRET=SECRET)
        assert result.returncode == 2, (args, result.stderr)
        assert error in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_heavy_schedule_compares_the_pages_its_branches_read(stack: Stack) -> None:
    """--mode heavy: each run a Heavy session; its comparison spans the branches' pages."""
    from tests.workflow.test_heavy import route

    page = f"{stack.jina.url}/page/watched-heavy"
    stack.jina.pages["/page/watched-heavy"] = "# Watched\n\nVersion one."
    visit = call("visit", {"url": [page], "goal": "what it says"})
    stack.model.script_key = route
    stack.model.scripts.update(
        {
            "b0": [visit, "<think>read</think>\n<answer>Version one.</answer>"],
            "b1": ["<think>guess</think>\n<answer>Version one.</answer>"],
            "report": ["<think>condensing</think>\n<report>## Solution Planning\n...</report>"],
            "integrate": ["<think>weighing</think>\n<answer>Version one.</answer>"],
        }
    )
    began = time.time()
    worker = stack.spawn_worker("worker-heavy-schedule.log", **ENV)
    try:
        created = stack.cli(
            "schedule", "create", WATCHED, "--every", "4s", "--id", "watch", "--mode", "heavy",
            "--branches", "2", **ENV,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        assert "· heavy ·" in created.stdout
        first = wait_for_run(stack, began)
        assert report_of(stack, first["session_id"])["comparison"]["previous"] is None
        settle(stack)
        changed_at = time.time()
        stack.jina.pages["/page/watched-heavy"] = "# Watched\n\nVersion two."
        assert stack.cli("schedule", "unpause", "watch", **ENV).returncode == 0
        second = wait_for_run(stack, changed_at)
        comparison = report_of(stack, second["session_id"])["comparison"]
        assert comparison["changed"] == [page] and comparison["previous"] is not None
    finally:
        stack.cli("schedule", "delete", "watch", **ENV)
        worker.terminate()
        worker.wait(20)
