"""The API process's link to Temporal, through the session layer: connected at start-up and
retried in the background while Temporal is unreachable (requests get 503 meanwhile, and
/healthz says so); with `worker`, a research worker hosted in-process once connected."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from workers.client import Sessions, TemporalUnavailable, temporal_reachable
from workers.config import Settings
from workers.hosting.research_worker import research_worker

log = logging.getLogger(__name__)
RETRY_SECONDS = 2.0


class Backend:
    """The `Sessions` the routes use, and the optional in-process worker."""

    def __init__(self, settings: Settings, worker: bool = False) -> None:
        self.settings = settings
        self.worker = worker
        self._sessions: Sessions | None = None
        self._error = "not connected yet"
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = asyncio.Event()

    async def start(self) -> None:
        """Try once now; if Temporal is not there, keep trying in the background."""
        if not await self._try_connect():
            self._tasks.append(asyncio.create_task(self._reconnect()))

    async def _try_connect(self) -> bool:
        try:
            self._sessions = await Sessions.connect(self.settings)
        except TemporalUnavailable as error:
            self._error = str(error)
            log.warning("%s; retrying every %.0f s", error, RETRY_SECONDS)
            return False
        self.connected.set()
        if self.worker:
            self._tasks.append(asyncio.create_task(self._host_worker(self._sessions)))
        return True

    async def _reconnect(self) -> None:
        while not await self._try_connect():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RETRY_SECONDS)
            if self._stop.is_set():
                return

    async def _host_worker(self, sessions: Sessions) -> None:
        try:
            async with research_worker(self.settings, sessions.client):
                log.info("research worker polling task queue %r", self.settings.task_queue)
                await self._stop.wait()
        except Exception:  # the API keeps serving; sessions wait for another worker
            log.exception("the in-process research worker stopped")

    @property
    def sessions(self) -> Sessions:
        """The session layer, or TemporalUnavailable (503) while not connected."""
        if self._sessions is None:
            raise TemporalUnavailable(f"Temporal is not reachable: {self._error}")
        return self._sessions

    async def healthy(self) -> bool:
        return self._sessions is not None and await temporal_reachable(self._sessions)

    async def close(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
