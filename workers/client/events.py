"""A session as a stream of events derived from its history: `progress` when it changes,
each `step` once it finished (numbered as `show` numbers them), then the final `result` or
`failed`. Step numbers come from the history, so a reader that reconnects with the last number
it saw (`after`) misses nothing and sees nothing twice, whichever process serves it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from workers.client.errors import SessionFailed
from workers.client.sessions import Sessions, status_name
from workers.client.views import progress_data, report_data
from workers.workflows.heavy import HeavyWorkflow

EventKind = Literal["progress", "step", "result", "failed"]
FINAL_ID = "end"  # the id of the last event: a reader that saw it has seen everything
UNFINISHED = ("scheduled", "running")


@dataclass(frozen=True)
class SessionEvent:
    """One event: `id` is the step's number for a step, FINAL_ID for the final event and None
    for progress (progress is a snapshot, re-sent on reconnecting, not replayed)."""

    kind: EventKind
    data: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


async def _describe(sessions: Sessions, session_id: str) -> tuple[str, int, bool]:
    execution = await sessions.describe(session_id)
    heavy = execution.workflow_type == HeavyWorkflow.__name__
    return status_name(execution.status), execution.history_length, heavy


async def _final(sessions: Sessions, session_id: str, status: str) -> SessionEvent:
    try:
        report = await sessions.result(session_id)
    except SessionFailed as error:
        return SessionEvent("failed", {"status": status, "error": str(error)}, FINAL_ID)
    return SessionEvent("result", {"status": "completed", **report_data(report)}, FINAL_ID)


async def session_events(
    sessions: Sessions, session_id: str, after: int = 0, interval: float = 0.5
) -> AsyncIterator[SessionEvent]:
    """The session's events from step `after + 1` on, until its final event.

    Each poll is one `describe` (no worker involved); only when the history grew are the
    timeline read and the progress queried, so a quiet session costs one cheap call per
    interval. Steps are given in order, a step only once every earlier one finished; when the
    session ends, the steps left unfinished (abandoned by a cancel) follow as they are."""
    delivered = 0
    seen: int | None = None
    last_progress: dict[str, Any] | None = None
    while True:
        status, length, heavy = await _describe(sessions, session_id)
        ended = status not in ("running", "continued_as_new")
        if length != seen or ended:
            seen = length
            timeline = await sessions.timeline(session_id, links=False)
            steps = timeline["steps"]
            ended = ended and timeline["status"] != "running"
            while delivered < len(steps) and (
                ended or steps[delivered]["status"] not in UNFINISHED
            ):
                delivered += 1
                if delivered > after:
                    step = {"step": delivered, **steps[delivered - 1]}
                    yield SessionEvent("step", step, str(delivered))
            if ended:
                yield await _final(sessions, session_id, status)
                return
            try:  # a query needs a worker; with none polling, wait no longer than this
                progress = await asyncio.wait_for(sessions.progress(session_id, heavy), 5)
            except TimeoutError:
                progress = None
            if progress is not None:
                data = progress_data(progress)
                if data != last_progress:
                    last_progress = data
                    yield SessionEvent("progress", data)
        await asyncio.sleep(interval)
