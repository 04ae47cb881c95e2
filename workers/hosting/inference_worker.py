"""The inference worker: hosts the model-call activity in front of one model server, polling the
shared `llm` queue and its own `llm-<replica>` queue, only while the server is healthy, with at
most `max_concurrent` generations in flight."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.context import ModelReplica, Slots, install_replica
from activities.heartbeat import KeepAlive
from activities.llm import healthy, think_activity
from workers.hosting.intake import DEFAULT_INTAKE, POLLS, Intake
from workers.hosting.sticky import ReleaseSticky
from workers.workflows.llm_routing import replica_queue

log = logging.getLogger(__name__)
_GRACE = timedelta(seconds=10)


@dataclass
class InferencePool:
    """The workers of one replica; started while its model server is healthy."""

    client: Client
    replica: ModelReplica
    max_concurrent: int
    queue: str = "llm"
    # the process's, when it runs other workers too
    intake: Intake = field(default_factory=lambda: Intake(DEFAULT_INTAKE))
    check_seconds: float = 2.0

    def _workers(self) -> list[Worker]:
        """One worker per queue, each taking at most `max_concurrent` tasks: the rest waits in
        Temporal. The replica's semaphore then caps generations across both queues."""
        return [
            Worker(
                self.client,
                task_queue=queue,
                activities=[think_activity],
                tuner=self.intake.tuner(self.max_concurrent),
                max_concurrent_activity_task_polls=POLLS,
                interceptors=[KeepAlive(), ReleaseSticky(), self.intake],
                graceful_shutdown_timeout=_GRACE,
            )
            for queue in (self.queue, replica_queue(self.queue, self.replica.name))
        ]

    async def run(self, stop: asyncio.Event) -> None:
        """Poll while the server is healthy; stop polling while it is not."""
        slots = Slots(self.max_concurrent)
        install_replica(replace(self.replica, slots=slots))
        running: list[Worker] = []
        tasks: list[asyncio.Task[None]] = []
        try:
            while not stop.is_set():
                # Answering a call is proof of health; a server that dies fails its calls.
                up = bool(slots.in_use) or await healthy(self.replica.endpoint)
                if up and not running:
                    log.info("replica %s: server healthy, polling", self.replica.name)
                    running = self._workers()
                    tasks = [asyncio.create_task(worker.run()) for worker in running]
                elif not up and running:
                    log.warning("replica %s: server down, not polling", self.replica.name)
                    await _shutdown(running, tasks)
                    running, tasks = [], []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.check_seconds)
        finally:
            await _shutdown(running, tasks)


async def _shutdown(workers: list[Worker], tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
    await asyncio.gather(*tasks, return_exceptions=True)
