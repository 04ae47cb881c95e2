"""Error taxonomy: every external failure becomes a retryable or non-retryable ApplicationError.

    DeepResearchError
    ├── ConfigurationError        bad or missing settings (raised at start-up, never retried)
    └── ToolError                 a tool call that cannot succeed (bad URL, refused by netguard)

External HTTP/API failures are mapped by `raise_for_http` / `from_openai` into Temporal's
`ApplicationError`: 408/409/425/429/5xx, timeouts and connection errors retry (honouring
`Retry-After` through `next_retry_delay`); any other 4xx is non-retryable. Errors that what a
page or URL holds raises in a codec or URL parser (`is_content_error`) are never retried.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx
from temporalio.exceptions import ApplicationError

from activities.charset import decode

if TYPE_CHECKING:
    import openai

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
MAX_RETRY_AFTER = 3600.0  # a server asking for longer is capped: a session must not stall


class DeepResearchError(Exception):
    """Root of the project's own errors; keyword context stays on the instance."""

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.context = context


class ConfigurationError(DeepResearchError):
    """A setting is missing or invalid; the message names the variable and the fix."""


class ToolError(DeepResearchError):
    """A tool input that can never succeed (e.g. a URL refused by netguard)."""


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


def retry_after(headers: httpx.Headers | dict[str, str] | None) -> timedelta | None:
    """How long the server asks us to wait: Retry-After in seconds or as an HTTP date, at
    most MAX_RETRY_AFTER (a huge or infinite value is the cap, a past date or a negative
    number no wait); None when absent or unreadable (the retry policy's backoff applies)."""
    value = (headers or {}).get("retry-after") or (headers or {}).get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return timedelta(seconds=min(max(0.0, seconds), MAX_RETRY_AFTER))


def error_detail(body: str) -> str:
    """The message of an error body, on one line: an OpenAI-style `{"error": {"message"}}`
    or a `{"message"}` / `{"detail"}` object gives its text, anything else its start."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        inner = data.get("error")
        for found in (inner.get("message") if isinstance(inner, dict) else inner,
                      data.get("message"), data.get("detail")):  # fmt: skip
            if isinstance(found, str) and found.strip():
                body = found
                break
    return " ".join(body.split())[:200]


def status_error(
    service: str, status: int, headers: httpx.Headers | None, detail: str
) -> ApplicationError:
    """The ApplicationError for an HTTP status from `service`."""
    message = f"{service} answered HTTP {status}: {error_detail(detail)}".rstrip(": ")
    return ApplicationError(
        message,
        type=f"HTTP{status}",
        non_retryable=not is_retryable_status(status),
        next_retry_delay=retry_after(headers) if is_retryable_status(status) else None,
    )


def raise_for_http(service: str, response: httpx.Response) -> None:
    """Raise the classified error for a non-2xx response."""
    if response.is_success:
        return
    detail = decode(response.content, response.charset_encoding)  # .text raises on some
    raise status_error(service, response.status_code, response.headers, detail)


def from_transport(service: str, error: httpx.HTTPError) -> ApplicationError:
    """Timeouts and connection failures are retryable; anything else in httpx is a bug in the
    request (invalid URL etc.) and is not."""
    retryable = isinstance(
        error, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
    )
    kind = type(error).__name__
    return ApplicationError(f"{service}: {kind}: {error}", type=kind, non_retryable=not retryable)


def from_openai(service: str, error: openai.OpenAIError) -> ApplicationError:
    """Classify an `openai` SDK error the same way as raw HTTP ones."""
    import openai  # heavy to import: the settings and the CLI's start-up need none of it

    if isinstance(error, openai.APIStatusError):
        return status_error(service, error.status_code, error.response.headers, error.response.text)
    if isinstance(error, (openai.APITimeoutError, openai.APIConnectionError)):
        return ApplicationError(
            f"{service}: {type(error).__name__}: {error}", type=type(error).__name__
        )
    return ApplicationError(f"{service}: {error}", type=type(error).__name__, non_retryable=True)


def is_content_error(error: BaseException) -> bool:
    """Whether `error` is one that hostile content raises in a codec or URL parser: a charset
    that is no text encoding (a bare LookupError; KeyError and IndexError are bugs of ours), an
    undecodable name or body (UnicodeError), a URL httpx cannot parse. Retrying cannot help."""
    return isinstance(error, (UnicodeError, httpx.InvalidURL)) or type(error) is LookupError
