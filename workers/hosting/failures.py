"""Failures small enough for history. Temporal replaces an activity failure over its size limit
with "Failure exceeds size limit.", which hides the cause from `show` and the UI; a failure is
its message (clipped), the tail of its stack trace and a few causes, never a page or a file."""

from __future__ import annotations

from temporalio.api.failure.v1 import Failure
from temporalio.converter import DefaultFailureConverter, PayloadConverter

MESSAGE_CHARS = 1000
STACK_CHARS = 2000  # the innermost frames, where the error was raised
DETAILS_BYTES = 2048
CAUSES = 4


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BoundedFailureConverter(DefaultFailureConverter):
    """The default conversion, then every failure in the chain bounded."""

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        current, depth = failure, 0
        while True:
            current.message = _clip(current.message, MESSAGE_CHARS)
            if len(current.stack_trace) > STACK_CHARS:
                current.stack_trace = "…" + current.stack_trace[-STACK_CHARS:]
            info = current.application_failure_info
            if current.HasField("application_failure_info") and (
                info.details.ByteSize() > DETAILS_BYTES
            ):
                info.ClearField("details")
            if not current.HasField("cause"):
                return
            depth += 1
            if depth > CAUSES:
                current.ClearField("cause")
                return
            current = current.cause
