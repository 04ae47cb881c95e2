"""The session layer as the MCP server holds it: connected on first use (so the server starts
and answers, with a clean error, while Temporal is down) and, unless told otherwise, hosting a
research worker in-process, so that one command serves a desktop MCP client."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from types import TracebackType

from activities.llm import probe
from workers.client import Sessions
from workers.config import Settings
from workers.hosting.research_worker import research_endpoint, research_worker

log = logging.getLogger(__name__)


class Backend:
    """`Sessions` of one deployment, plus the in-process worker when `worker` is set. Enter it
    for the server's lifetime; `sessions()` connects (again, after a failure) when needed."""

    def __init__(self, settings: Settings, worker: bool = True) -> None:
        self.settings = settings
        self.worker = worker
        self._sessions: Sessions | None = None
        self._lock = asyncio.Lock()
        self._stack = AsyncExitStack()
        self._warm_up: asyncio.Task[None] | None = None

    async def sessions(self) -> Sessions:
        """The connected session layer; TemporalUnavailable while Temporal cannot be reached."""
        async with self._lock:
            if self._sessions is None:
                sessions = await Sessions.connect(self.settings)
                if self.worker:
                    worker = research_worker(self.settings, sessions.client)
                    await self._stack.enter_async_context(worker)
                    log.info("research worker polling task queue %r", self.settings.task_queue)
                self._sessions = sessions
            return self._sessions

    async def ready_to_start(self) -> None:
        """Before a new session: with the worker here, a model endpoint that is unreachable
        or rejects the key fails now (ConfigurationError) instead of after its retries."""
        if self.worker:
            await probe(research_endpoint(self.settings))

    async def _connect_early(self) -> None:
        """Connect at start-up, so the worker takes sessions before the first tool call."""
        try:
            await self.sessions()
        except Exception as error:  # noqa: BLE001 - retried at the first tool call
            log.warning("not connected yet (retried at the first call): %s", error)

    async def __aenter__(self) -> Backend:
        self._warm_up = asyncio.ensure_future(self._connect_early())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._warm_up is not None:
            self._warm_up.cancel()
        await self._stack.aclose()
