"""The activity intake's bookkeeping: slots are lent only while few tasks wait between the
server and their activity, a started activity or a returned permit makes room, polls waiting for
a task do not count, and a worker's own maximum still holds."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from workers.config import Settings
from workers.hosting.intake import DEFAULT_INTAKE, POLLS, Intake, _Slots

CTX = SimpleNamespace()


def worker(intake: Intake, maximum: int) -> _Slots:
    slots = intake.slots(maximum)
    assert isinstance(slots, _Slots)
    return slots


def lend(slots: _Slots) -> object | None:
    return slots.try_reserve_slot(CTX)  # type: ignore[arg-type]


def hand_over(slots: _Slots, permit: object) -> None:
    """Core gave the permit's task to Python."""
    slots.mark_slot_used(SimpleNamespace(permit=permit, slot_info=None))  # type: ignore[arg-type]


def release(slots: _Slots, permit: object) -> None:
    slots.release_slot(SimpleNamespace(permit=permit, slot_info=None))  # type: ignore[arg-type]


def polls(slots: _Slots) -> list[object]:
    """The worker's polls in flight, each holding a permit; none counts as a task yet."""
    permits = [lend(slots) for _ in range(POLLS)]
    assert None not in permits and slots.intake.unstarted == 0
    return permits


def test_lends_until_that_many_tasks_wait_then_a_start_makes_room() -> None:
    intake = Intake(waiting=2)
    slots = worker(intake, 100)
    first, second, *_ = polls(slots)
    assert lend(slots) is not None and lend(slots) is not None  # beyond the polls: tasks
    assert intake.unstarted == 2 and lend(slots) is None
    hand_over(slots, first)
    hand_over(slots, second)
    assert intake.unstarted == 2 and lend(slots) is None  # handed over is not started
    intake._started()
    assert intake.unstarted == 1 and lend(slots) is not None
    assert slots.held == POLLS + 3  # a started task keeps its slot until it completes


def test_polls_waiting_on_a_quiet_queue_do_not_starve_a_busy_one() -> None:
    intake = Intake(waiting=1)
    quiet, busy = worker(intake, 100), worker(intake, 100)
    polls(quiet)
    polls(busy)
    assert lend(busy) is not None and intake.unstarted == 1


def test_a_worker_keeps_its_own_maximum() -> None:
    intake = Intake(waiting=10)
    small, other = worker(intake, 1), worker(intake, 5)
    permit = lend(small)
    assert permit is not None and lend(small) is None
    assert lend(other) is not None  # the process still has room for another worker
    release(small, permit)
    assert small.held == 0 and lend(small) is not None


def test_a_returned_permit_makes_room() -> None:
    intake = Intake(waiting=1)
    slots = worker(intake, 100)
    polls(slots)
    permit = lend(slots)
    hand_over(slots, permit)
    assert lend(slots) is None
    release(slots, permit)  # e.g. a task that failed before its activity began
    assert intake.unstarted == 0 and lend(slots) is not None


async def full(intake: Intake) -> tuple[_Slots, object, asyncio.Task[object]]:
    """A worker whose one task was handed over, not started, and a poll that waits for room."""
    slots = worker(intake, 100)
    polls(slots)
    held = await slots.reserve_slot(CTX)  # type: ignore[arg-type]
    hand_over(slots, held)
    waiting = asyncio.create_task(slots.reserve_slot(CTX))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert not waiting.done()
    return slots, held, waiting


async def test_a_waiting_poll_gets_the_room_a_start_makes() -> None:
    intake = Intake(waiting=1)
    slots, held, waiting = await full(intake)
    intake._started()
    permit = await asyncio.wait_for(waiting, 2)
    assert permit is not held


async def test_a_cancelled_poll_gives_its_permit_back() -> None:
    intake = Intake(waiting=1)
    slots, held, waiting = await full(intake)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not intake._waiters
    release(slots, held)
    # a permit handed to a poll that was cancelled before it ran comes back, too
    cancelled = asyncio.get_running_loop().create_future()
    cancelled.cancel()
    intake._deliver(cancelled, lend(slots))  # type: ignore[arg-type]
    assert intake.unstarted == 0 and slots.held == POLLS


def test_the_default_is_the_settings_default() -> None:
    assert Settings.model_fields["activity_intake"].default == DEFAULT_INTAKE
