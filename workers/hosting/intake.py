"""Activity intake: how many activity tasks a worker process takes from the server before its
event loop has started them.

The server starts an activity's heartbeat clock when it hands the task to the SDK's core, and
core takes tasks as long as it has slots (eagerly on a workflow task's completion, too). One
Python event loop then hands them to their activities about one per loop turn: ~80 a second on
a busy worker. A burst of hundreds of tasks thus reached its activities seconds late, timed out
on its 3 s heartbeat before the first beat, and was retried, which added load (docs/benchmarks.md,
"Scaling curve"). The intake lends core a slot only while fewer than `waiting` tasks sit
between the server and their activity; the rest wait on the server, unstarted, where no timeout
runs.

What the SDK tells a slot supplier: a slot is reserved before a poll (or an eager task), marked
used when core hands its task to Python, and released when the task is done. A reserved slot is
either a poll in flight or a task core holds; each worker has at most `POLLS` polls in flight,
so the slots it reserved beyond that are tasks. Polls waiting on a quiet queue thus never take
the room a busy queue needs.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from temporalio.worker import (
    ActivityInboundInterceptor,
    CustomSlotSupplier,
    ExecuteActivityInput,
    FixedSizeSlotSupplier,
    Interceptor,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
    WorkerTuner,
)

DEFAULT_INTAKE = 16  # the setting's default (DEEPRESEARCH_ACTIVITY_INTAKE)
POLLS = 5  # activity polls in flight per worker: the SDK's default, passed to every worker
SDK_DEFAULT_SLOTS = 100  # the SDK's slots for workflow tasks, local activities, Nexus tasks


@dataclass(eq=False)
class _Permit(SlotPermit):
    slots: _Slots


@dataclass(eq=False)
class _Waiter:
    slots: _Slots
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[SlotPermit]


@dataclass(eq=False)
class Intake(Interceptor):
    """One per process (its workers share one event loop): a worker interceptor that notes each
    activity's start, and the source of each worker's activity slots (`tuner`). Core calls the
    slot methods from its own threads, hence the lock."""

    waiting: int
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: weakref.WeakSet[_Slots] = field(default_factory=weakref.WeakSet)
    # permits whose task Python has and has not started, in the order core handed them over
    _handed: dict[_Permit, None] = field(default_factory=dict)
    _waiters: deque[_Waiter] = field(default_factory=deque)

    def tuner(self, max_concurrent_activities: int) -> WorkerTuner:
        """A worker's slots: at most `max_concurrent_activities` activities, lent through this
        intake; the SDK's defaults for the rest. Give the worker `POLLS` activity polls."""
        fixed = FixedSizeSlotSupplier(SDK_DEFAULT_SLOTS)
        return WorkerTuner.create_composite(
            workflow_supplier=fixed,
            activity_supplier=self.slots(max_concurrent_activities),
            local_activity_supplier=fixed,
            nexus_supplier=fixed,
        )

    def slots(self, maximum: int) -> CustomSlotSupplier:
        """One worker's activity slots, at most `maximum` of them."""
        slots = _Slots(self, maximum)
        with self._lock:
            self._workers.add(slots)
        return slots

    @property
    def unstarted(self) -> int:
        """Tasks taken from the server and not started yet (at least this many)."""
        held_by_core = sum(max(0, len(slots.reserved) - POLLS) for slots in self._workers)
        return held_by_core + len(self._handed)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Started(next, self)

    def _lend(self, slots: _Slots) -> _Permit | None:
        """A permit if both this intake and `slots` have room (call with the lock held)."""
        if self.unstarted >= self.waiting or slots.held >= slots.maximum:
            return None
        permit = _Permit(slots)
        slots.held += 1
        slots.reserved[permit] = None
        return permit

    def _wake(self) -> None:
        """Hand permits to waiting polls while there is room (call with the lock held)."""
        for waiter in list(self._waiters):
            permit = self._lend(waiter.slots)
            if permit is None:
                if self.unstarted >= self.waiting:
                    return
                continue  # that worker is full; another's poll may still go
            self._waiters.remove(waiter)
            waiter.loop.call_soon_threadsafe(self._deliver, waiter.future, permit)

    def _deliver(self, future: asyncio.Future[SlotPermit], permit: _Permit) -> None:
        if future.done():  # the poll was cancelled meanwhile
            self._release(permit)
        else:
            future.set_result(permit)

    def _handed_over(self, permit: _Permit) -> None:
        with self._lock:
            if permit in permit.slots.reserved:  # not released already
                del permit.slots.reserved[permit]
                self._handed[permit] = None

    def _release(self, permit: _Permit) -> None:
        with self._lock:
            permit.slots.reserved.pop(permit, None)
            self._handed.pop(permit, None)
            permit.slots.held -= 1
            self._wake()

    def _started(self) -> None:
        """An activity began: the oldest task handed over is taken to be its (core hands them
        over in order; a mismatch only lasts until those permits come back)."""
        with self._lock:
            if self._handed:
                del self._handed[next(iter(self._handed))]
                self._wake()

    async def _reserve(self, slots: _Slots) -> SlotPermit:
        loop = asyncio.get_running_loop()
        with self._lock:
            permit = self._lend(slots)
            if permit is not None:
                return permit
            waiter = _Waiter(slots, loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            raise


@dataclass(eq=False)
class _Slots(CustomSlotSupplier):
    """One worker's activity slots."""

    intake: Intake
    maximum: int
    held: int = 0
    reserved: dict[_Permit, None] = field(default_factory=dict)  # not handed over yet

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        return await self.intake._reserve(self)

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        with self.intake._lock:
            return self.intake._lend(self)

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        if isinstance(ctx.permit, _Permit):
            self.intake._handed_over(ctx.permit)

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        if isinstance(ctx.permit, _Permit):
            self.intake._release(ctx.permit)


class _Started(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, intake: Intake) -> None:
        super().__init__(next)
        self._intake = intake

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        self._intake._started()
        return await self.next.execute_activity(input)
