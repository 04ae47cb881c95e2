"""Server-sent events: one feed per session shared by all its listeners (a hundred browsers
watching one session cost Temporal what one does), written in the `text/event-stream` format.

A feed follows `session_events` from the first step and keeps the steps it saw, so a listener
that joins late, or reconnects with `Last-Event-ID: N`, gets the steps after N, the latest
progress, then whatever comes next. Event ids are step numbers from the history, the same in
any API process; the final event has id `end`, after which a reconnect is answered 204 (which
tells EventSource to stop)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from workers.client import SessionError, SessionEvent, Sessions, session_events
from workers.client.events import FINAL_ID

log = logging.getLogger(__name__)
KEEPALIVE_SECONDS = 15.0  # a comment line this often keeps proxies from closing a quiet stream
RETRY_MS = 2000  # how long EventSource waits before reconnecting


def encode(kind: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    """One event in the text/event-stream format (JSON data never holds a raw newline)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, ensure_ascii=False, default=str)
    return f"{head}event: {kind}\ndata: {body}\n\n".encode()


class Feed:
    """One session's events as they come, kept for everyone listening."""

    def __init__(self, sessions: Sessions, session_id: str, interval: float) -> None:
        self.session_id = session_id
        self.steps: list[SessionEvent] = []
        self.progress: SessionEvent | None = None
        self.progress_version = 0
        self.final: SessionEvent | None = None
        self.version = 0  # bumped on every change, so a listener never misses a wake-up
        self.listeners = 0
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._follow(sessions, interval))

    async def _follow(self, sessions: Sessions, interval: float) -> None:
        try:
            async for event in session_events(sessions, self.session_id, interval=interval):
                if event.kind == "step":
                    self.steps.append(event)
                elif event.kind == "progress":
                    self.progress = event
                    self.progress_version += 1
                else:
                    self.final = event
                await self._notify()
        except SessionError as error:
            self.final = SessionEvent("error", {"error": str(error)})  # type: ignore[arg-type]
        except Exception as error:  # Temporal gone mid-stream: listeners reconnect and resume
            log.warning("event feed of %s stopped: %s", self.session_id, error)
            self.final = SessionEvent("error", {"error": "the event feed was interrupted"})  # type: ignore[arg-type]
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self.version += 1
            self._changed.notify_all()

    async def wait(self, seen: int, timeout: float) -> bool:
        """Wait until the feed changed since version `seen`; False after `timeout`."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.version != seen), timeout
                )
            except TimeoutError:
                return False
            return True

    @property
    def done(self) -> bool:
        return self.final is not None

    def stop(self) -> None:
        self._task.cancel()


class EventHub:
    """The feeds of the sessions someone is listening to."""

    def __init__(self, interval: float = 0.5, keepalive: float = KEEPALIVE_SECONDS) -> None:
        self.interval = interval
        self.keepalive = keepalive
        self._feeds: dict[str, Feed] = {}

    def _join(self, sessions: Sessions, session_id: str) -> Feed:
        feed = self._feeds.get(session_id)
        if feed is None or (feed.done and feed.final and feed.final.kind == "error"):
            feed = self._feeds[session_id] = Feed(sessions, session_id, self.interval)
        feed.listeners += 1
        return feed

    def _leave(self, feed: Feed) -> None:
        feed.listeners -= 1
        if feed.listeners <= 0 and self._feeds.get(feed.session_id) is feed:
            del self._feeds[feed.session_id]
            feed.stop()

    async def stream(self, sessions: Sessions, session_id: str, after: int) -> AsyncIterator[bytes]:
        """The bytes of one listener's event stream, from step `after + 1` on."""
        feed = self._join(sessions, session_id)
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            sent, version = 0, 0
            while True:
                seen = feed.version
                for event in feed.steps[sent:]:
                    if int(event.id or 0) > after:
                        yield encode(event.kind, event.data, event.id)
                sent = len(feed.steps)
                if feed.progress is not None and feed.progress_version != version:
                    version = feed.progress_version
                    if not feed.done:
                        yield encode(feed.progress.kind, feed.progress.data)
                if feed.final is not None and sent == len(feed.steps):
                    final = feed.final
                    yield encode(final.kind, final.data, final.id)
                    return
                if not await feed.wait(seen, self.keepalive):
                    yield b": keepalive\n\n"
        finally:
            self._leave(feed)

    def close(self) -> None:
        for feed in self._feeds.values():
            feed.stop()
        self._feeds.clear()


def last_event_id(value: str | None) -> int | None:
    """The step a reconnecting listener saw last: 0 for none, None for the final event (the
    stream is over). Raises ValueError for anything else."""
    if value is None or value.strip() == "":
        return 0
    if value.strip() == FINAL_ID:
        return None
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number
