"""GET /v1/sessions/{id}/events: server-sent events over a real uvicorn socket — progress
changes, each step once as it finishes (id = its number), the final result (id `end`);
resumable with Last-Event-ID."""

from __future__ import annotations

import asyncio

from tests.api.conftest import Api, sse_events
from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, four_call_script


async def test_events_of_a_live_session(stack: Stack, api: Api) -> None:
    stack.script(QUESTION, four_call_script(stack))
    stack.serper.latency = 0.5  # time for progress to be seen between steps
    started = await api.http.post("/v1/sessions", json={"question": QUESTION, "id": "e-live"})
    assert started.status_code == 202
    listeners = [sse_events(api.http, "/v1/sessions/e-live/events") for _ in range(3)]
    first, *others = await asyncio.gather(*listeners)

    kinds = [event["event"] for event in first]
    assert kinds[-1] == "result" and kinds.count("result") == 1
    assert "progress" in kinds
    result = first[-1]
    assert result["id"] == "end"
    assert result["data"]["answer"] == ANSWER and result["data"]["termination"] == "answer"
    assert result["data"]["sources"] == [f"{stack.jina.url}/page/turing-{i}" for i in (1, 2)]
    steps = [event for event in first if event["event"] == "step"]
    assert [event["id"] for event in steps] == [str(n) for n in range(1, len(steps) + 1)]
    assert all(event["data"]["step"] == int(event["id"]) for event in steps)
    assert all(event["data"]["status"] == "completed" for event in steps)
    assert all("id" not in event for event in first if event["event"] == "progress")
    progress = [event["data"] for event in first if event["event"] == "progress"]
    assert all(p["kind"] == "research" for p in progress)
    assert [p["tool_calls"] for p in progress] == sorted(p["tool_calls"] for p in progress)

    # The steps are the timeline's, in the same order, as `show` numbers them.
    timeline = (await api.http.get("/v1/sessions/e-live/timeline")).json()
    assert [e["data"]["summary"] for e in steps] == [s["summary"] for s in timeline["steps"]]
    # Every listener got the same steps and result (one feed, shared).
    for other in others:
        assert [e for e in other if e["event"] != "progress"] == [
            e for e in first if e["event"] != "progress"
        ]


async def test_last_event_id_resumes_after_the_step_seen(stack: Stack, api: Api) -> None:
    stack.script(QUESTION, four_call_script(stack))
    await api.http.post("/v1/sessions", json={"question": QUESTION, "id": "e-resume"})
    # A listener that reads three steps, then drops.
    early = await sse_events(api.http, "/v1/sessions/e-resume/events", stop=4)
    seen = [e for e in early if e["event"] == "step"]
    last = seen[-1]["id"]
    rest = await sse_events(
        api.http, "/v1/sessions/e-resume/events", headers={"Last-Event-ID": last}
    )
    whole = await sse_events(api.http, "/v1/sessions/e-resume/events")
    steps = [e for e in whole if e["event"] == "step"]
    resumed = [e for e in rest if e["event"] == "step"]
    assert [e["id"] for e in seen + resumed] == [e["id"] for e in steps]  # nothing missed or twice
    assert seen + resumed == steps
    assert rest[-1]["event"] == "result" and rest[-1]["id"] == "end"
    # A finished session streams its whole history at once, without progress.
    assert "progress" not in [e["event"] for e in whole]
    # After the final event there is nothing more: 204 tells EventSource to stop.
    over = await api.http.get("/v1/sessions/e-resume/events", headers={"Last-Event-ID": "end"})
    assert over.status_code == 204
    query = await api.http.get("/v1/sessions/e-resume/events?last_event_id=end")
    assert query.status_code == 204
    bad = await api.http.get("/v1/sessions/e-resume/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 422
    assert bad.json() == {"error": "Last-Event-ID must be a step number or 'end'"}


async def test_a_failed_session_ends_with_failed(stack: Stack, api: Api) -> None:
    question = "A question with no script"  # the fake model answers 400: the session fails
    await api.http.post("/v1/sessions", json={"question": question, "id": "e-failed"})
    events = await sse_events(api.http, "/v1/sessions/e-failed/events")
    final = events[-1]
    assert final["event"] == "failed" and final["id"] == "end"
    assert final["data"]["status"] == "failed"
    assert final["data"]["error"].startswith("session e-failed failed: ")
