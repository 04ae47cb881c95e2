"""Failures stay small enough for history, with their cause readable."""

from __future__ import annotations

from temporalio.api.failure.v1 import Failure
from temporalio.converter import default
from temporalio.exceptions import ApplicationError

from workers.hosting.failures import MESSAGE_CHARS, BoundedFailureConverter


def _raise_chain(depth: int) -> None:
    try:
        if depth == 0:
            raise OSError("connection reset by the page's server " + "x" * 50_000)
        _raise_chain(depth - 1)
    except Exception as error:
        raise ApplicationError("fetch failed: " + "y" * 50_000, "z" * 10_000) from error


def test_a_huge_failure_chain_is_bounded_and_keeps_its_cause() -> None:
    try:
        _raise_chain(8)
    except ApplicationError as error:
        failure = Failure()
        BoundedFailureConverter().to_failure(error, default().payload_converter, failure)
    assert failure.ByteSize() < 20_000  # was over 500 KB
    assert failure.message.startswith("fetch failed: ") and len(failure.message) <= MESSAGE_CHARS
    assert failure.cause.message.startswith("fetch failed: ")
    assert failure.stack_trace.endswith("\n") or "raise" in failure.stack_trace
