"""Which retried attempts clear their session's sticky queue: only those after a heartbeat
timeout, the signature of a lost worker."""

from __future__ import annotations

from temporalio.api.enums.v1 import TimeoutType
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure, TimeoutFailureInfo
from temporalio.api.workflow.v1 import PendingActivityInfo

from workers.hosting.sticky import after_lost_worker


def timed_out(kind: TimeoutType.ValueType, activity_id: str = "7") -> PendingActivityInfo:
    failure = Failure(message="timeout", timeout_failure_info=TimeoutFailureInfo(timeout_type=kind))
    return PendingActivityInfo(activity_id=activity_id, last_failure=failure)


def test_a_heartbeat_timeout_means_a_lost_worker() -> None:
    assert after_lost_worker("7", [timed_out(TimeoutType.TIMEOUT_TYPE_HEARTBEAT)])


def test_other_failures_leave_the_sticky_worker_alone() -> None:
    rate_limited = PendingActivityInfo(
        activity_id="7",
        last_failure=Failure(message="429", application_failure_info=ApplicationFailureInfo()),
    )
    assert not after_lost_worker("7", [rate_limited])
    assert not after_lost_worker("7", [timed_out(TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE)])
    assert not after_lost_worker("7", [PendingActivityInfo(activity_id="7")])


def test_only_this_activity_counts() -> None:
    other = timed_out(TimeoutType.TIMEOUT_TYPE_HEARTBEAT, activity_id="8")
    assert not after_lost_worker("7", [other])
    assert not after_lost_worker("7", [])
    assert after_lost_worker("7", [other, timed_out(TimeoutType.TIMEOUT_TYPE_HEARTBEAT)])
