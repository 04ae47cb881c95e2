"""Killing the API process loses nothing: sessions run on workers, and another API process
answers for them, its event ids continuing where the dead one's stopped."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.conftest import ApiProcess, sse_events
from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, four_call_script


@pytest.mark.slow
async def test_kill_9_the_api_mid_session(stack: Stack, api_process: list[ApiProcess]) -> None:
    stack.script(QUESTION, four_call_script(stack))
    stack.serper.latency = 1.0
    worker = stack.spawn_worker()
    try:
        first = ApiProcess(stack).wait_ready()
        api_process.append(first)
        async with httpx.AsyncClient(base_url=first.url, timeout=60) as http:
            started = await http.post("/v1/sessions", json={"question": QUESTION, "id": "d-kill"})
            assert started.status_code == 202
            early = await sse_events(http, "/v1/sessions/d-kill/events", stop=2)
        first.kill()  # SIGKILL, mid-session
        stack.jina.latency = 8  # the page reads still ahead outlast the next API's start-up
        seen = [event for event in early if event["event"] == "step"]
        last = seen[-1]["id"] if seen else "0"

        second = ApiProcess(stack).wait_ready()
        api_process.append(second)
        async with httpx.AsyncClient(base_url=second.url, timeout=60) as http:
            view = (await http.get("/v1/sessions/d-kill")).json()
            assert view["status"] == "running"  # it kept going with no API process at all
            rest = await sse_events(
                http, "/v1/sessions/d-kill/events", headers={"Last-Event-ID": last}
            )
            assert rest[-1]["event"] == "result"
            assert rest[-1]["data"]["answer"] == ANSWER
            deadline = time.monotonic() + 30
            while (view := (await http.get("/v1/sessions/d-kill")).json())["status"] != "completed":
                assert time.monotonic() < deadline
            assert view["result"]["answer"] == ANSWER
            timeline = (await http.get("/v1/sessions/d-kill/timeline")).json()
        numbers = [e["id"] for e in seen + rest if e["event"] == "step"]
        assert numbers == [str(n) for n in range(1, len(timeline["steps"]) + 1)]
        assert len(stack.model.research_requests()) == 3  # nothing ran twice
    finally:
        worker.terminate()
        worker.wait(20)
