"""Classification of real HTTP / SDK failures into retryable and non-retryable ApplicationErrors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import openai
import pytest
from temporalio.exceptions import ApplicationError

from activities.context import ModelEndpoint
from activities.errors import (
    error_detail,
    from_openai,
    from_transport,
    is_content_error,
    raise_for_http,
    retry_after,
    status_error,
)
from tests.activity.helpers import closed_port
from tests.fakes import FakeModel, FakeServer
from workers.workflows.options import MAX_RETRY_INTERVAL


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


async def _classified(
    server: FakeServer, status: int, retry_after: float | None = None
) -> ApplicationError:
    server.fail_next(1, status, retry_after=retry_after, body=f"status {status} body")
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(server.url + "/anything")
    assert response.status_code == status
    with pytest.raises(ApplicationError) as caught:
        raise_for_http("svc", response)
    return caught.value


async def test_success_does_not_raise(server: FakeServer) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(server.url + "/_health")
    raise_for_http("svc", response)


async def test_429_with_retry_after_is_retryable_with_delay(server: FakeServer) -> None:
    error = await _classified(server, 429, retry_after=7)
    assert not error.non_retryable
    assert error.next_retry_delay == timedelta(seconds=7)
    assert error.type == "HTTP429"
    assert "svc answered HTTP 429" in error.message and "status 429 body" in error.message


async def test_503_retry_after_fraction(server: FakeServer) -> None:
    error = await _classified(server, 503, retry_after=1.5)
    assert not error.non_retryable
    assert error.next_retry_delay == timedelta(seconds=1.5)


@pytest.mark.parametrize("status", [408, 409, 425, 500, 502, 503, 504])
async def test_retryable_statuses(server: FakeServer, status: int) -> None:
    error = await _classified(server, status)
    assert not error.non_retryable
    assert error.next_retry_delay is None  # no Retry-After header: Temporal's own backoff
    assert error.type == f"HTTP{status}"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_non_retryable_statuses(server: FakeServer, status: int) -> None:
    error = await _classified(server, status, retry_after=7)
    assert error.non_retryable
    assert error.next_retry_delay is None  # Retry-After is irrelevant when nothing retries
    assert error.type == f"HTTP{status}"


async def test_connect_error_is_retryable() -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get(f"http://127.0.0.1:{closed_port()}/")
    error = from_transport("svc", caught.value)
    assert not error.non_retryable
    assert error.type == "ConnectError"


async def test_read_timeout_is_retryable(server: FakeServer) -> None:
    server.hang_next(1)
    async with httpx.AsyncClient(timeout=0.3) as client:
        with pytest.raises(httpx.TimeoutException) as caught:
            await client.get(server.url + "/slow")
    error = from_transport("svc", caught.value)
    assert not error.non_retryable
    assert error.type == "ReadTimeout"


async def test_unsupported_protocol_is_not_retryable() -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(httpx.UnsupportedProtocol) as caught:
            await client.get("ftp://127.0.0.1/file")
    assert from_transport("svc", caught.value).non_retryable


# -- openai SDK errors --------------------------------------------------------------------


@pytest.fixture
def sdk_model(
    endpoint_for: Callable[..., ModelEndpoint],
) -> Iterator[tuple[FakeModel, ModelEndpoint]]:
    with FakeModel(scripts={"Q": ["<answer>A</answer>"]}) as fake:
        yield fake, endpoint_for(fake, timeout=0.3)


async def _sdk_error(endpoint: ModelEndpoint) -> openai.OpenAIError:
    with pytest.raises(openai.OpenAIError) as caught:
        await endpoint.client.chat.completions.create(
            model=endpoint.model, messages=[{"role": "user", "content": "Q"}]
        )
    return caught.value


async def test_from_openai_400_not_retryable(sdk_model: tuple[FakeModel, ModelEndpoint]) -> None:
    fake, endpoint = sdk_model
    fake.fail_next(1, 400, body='{"error": {"message": "context too long"}}')
    sdk_error = await _sdk_error(endpoint)
    assert isinstance(sdk_error, openai.BadRequestError)
    error = from_openai("model", sdk_error)
    assert error.non_retryable
    assert error.type == "HTTP400"
    assert "context too long" in error.message


async def test_from_openai_429_retryable_with_delay(
    sdk_model: tuple[FakeModel, ModelEndpoint],
) -> None:
    fake, endpoint = sdk_model
    fake.fail_next(1, 429, retry_after=3)
    sdk_error = await _sdk_error(endpoint)
    assert isinstance(sdk_error, openai.RateLimitError)
    error = from_openai("model", sdk_error)
    assert not error.non_retryable
    assert error.next_retry_delay == timedelta(seconds=3)


async def test_from_openai_401_not_retryable(endpoint_for: Callable[..., ModelEndpoint]) -> None:
    with FakeModel(api_key="right-key") as fake:
        sdk_error = await _sdk_error(endpoint_for(fake, api_key="wrong-key"))
    assert isinstance(sdk_error, openai.AuthenticationError)
    assert from_openai("model", sdk_error).non_retryable


async def test_from_openai_500_retryable(sdk_model: tuple[FakeModel, ModelEndpoint]) -> None:
    fake, endpoint = sdk_model
    fake.fail_next(1, 500)
    assert not from_openai("model", await _sdk_error(endpoint)).non_retryable


async def test_from_openai_timeout_retryable(sdk_model: tuple[FakeModel, ModelEndpoint]) -> None:
    fake, endpoint = sdk_model
    fake.hang_next(1)
    sdk_error = await _sdk_error(endpoint)
    assert isinstance(sdk_error, openai.APITimeoutError)
    assert not from_openai("model", sdk_error).non_retryable


async def test_from_openai_connection_error_retryable(
    endpoint_for: Callable[..., ModelEndpoint],
) -> None:
    fake = FakeServer().start()
    endpoint = endpoint_for(fake)
    fake.stop()  # nothing listens on its port any more
    sdk_error = await _sdk_error(endpoint)
    assert isinstance(sdk_error, openai.APIConnectionError)
    assert not from_openai("model", sdk_error).non_retryable


async def test_huge_retry_after_still_classified(server: FakeServer) -> None:
    error = await _classified(server, 503, retry_after=10**15)
    assert not error.non_retryable
    assert error.next_retry_delay == CAP  # not 10**15 s


CAP = timedelta(hours=1)  # written out: the cap a session may be parked for, at most


@pytest.mark.parametrize(
    ("value", "delay"),
    [
        ("7", timedelta(seconds=7)),
        (str(10**15), CAP),  # huge, in seconds: capped at an hour
        ("1e400", CAP),  # overflows to infinity: the cap
        ("inf", CAP),
        ("-30", timedelta(0)),  # negative: no wait
        ("Fri, 31 Dec 9999 23:59:59 GMT", CAP),  # huge, as an HTTP date
        ("Thu, 01 Jan 1970 00:00:00 GMT", timedelta(0)),  # a date gone by: no wait
        ("Fri, 31 Dec 9999 23:59:59 -0000", CAP),  # a date without a zone: taken as UTC
        ("nan", None),  # unreadable: the retry policy's own backoff
        ("soon", None),
        ("Fri, 99 Foo 2026 25:61:61 GMT", None),  # a malformed date
        ("", None),
    ],
)
def test_retry_after_is_read_and_capped(value: str, delay: timedelta | None) -> None:
    assert retry_after({"retry-after": value}) == delay


def test_retry_after_as_a_near_http_date() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=120)
    delay = retry_after({"Retry-After": format_datetime(soon, usegmt=True)})
    assert delay is not None and timedelta(seconds=110) <= delay <= timedelta(seconds=121)


async def test_a_huge_http_date_is_the_cap_on_the_error(server: FakeServer) -> None:
    server.fail_next(1, 429, retry_after="Fri, 31 Dec 9999 23:59:59 GMT")
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(server.url + "/anything")
    with pytest.raises(ApplicationError) as caught:
        raise_for_http("svc", response)
    assert caught.value.next_retry_delay == CAP


HUGE_OR_MALFORMED = [
    (str(10**15), CAP),  # huge, in seconds
    ("Fri, 31 Dec 9999 23:59:59 GMT", CAP),  # huge, as an HTTP date
    ("soon", None),  # malformed, in seconds: no delay of the server's, so the policy's backoff
    ("Fri, 99 Foo 2026 25:61:61 GMT", None),  # malformed, as an HTTP date: the same
]


@pytest.mark.parametrize(("value", "delay"), HUGE_OR_MALFORMED)
async def test_the_error_carries_the_capped_delay(
    server: FakeServer,
    sdk_model: tuple[FakeModel, ModelEndpoint],
    value: str,
    delay: timedelta | None,
) -> None:
    """On both paths that classify a status (raw HTTP, the model's SDK), as a real header: the
    delay is the cap or none at all, and the error stays retryable. None is bounded too: the
    policy's backoff never waits longer than MAX_RETRY_INTERVAL, which is below the cap."""
    server.fail_next(1, 503, retry_after=value)
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(server.url + "/anything")
    with pytest.raises(ApplicationError) as caught:
        raise_for_http("svc", response)
    fake, endpoint = sdk_model
    fake.fail_next(1, 429, retry_after=value)
    for error in (caught.value, from_openai("model", await _sdk_error(endpoint))):
        assert not error.non_retryable
        assert error.next_retry_delay == delay
    assert MAX_RETRY_INTERVAL < CAP


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ('{"error": {"message": "context  too\\nlong"}}', "context too long"),  # OpenAI style
        ('{"error": "quota exceeded"}', "quota exceeded"),
        ('{"message": "bad key"}', "bad key"),
        ('{"detail": "Not Found"}', "Not Found"),
        ('{"error": {"code": 7}, "detail": "the detail"}', "the detail"),  # no message: go on
        ('{"error": {"message": " "}, "message": "the message"}', "the message"),  # blank: go on
        ('{"error": {"code": 7}}', '{"error": {"code": 7}}'),  # nothing readable: the body
        ("[1, 2]", "[1, 2]"),
        ("x" * 300, "x" * 200),  # a page of HTML is cut to its start
    ],
)
def test_error_detail_finds_the_message(body: str, detail: str) -> None:
    assert error_detail(body) == detail


def test_status_error_message_names_service_status_and_detail() -> None:
    assert status_error("svc", 404, None, "").message == "svc answered HTTP 404"
    assert status_error("svc", 400, None, "LIMIT MAX").message == "svc answered HTTP 400: LIMIT MAX"


def test_raise_for_http_reads_the_declared_charset() -> None:
    body = "Ключ неверен".encode("cp1251")
    response = httpx.Response(
        403, content=body, headers={"content-type": "text/plain; charset=windows-1251"}
    )
    with pytest.raises(ApplicationError) as caught:
        raise_for_http("svc", response)
    assert caught.value.message == "svc answered HTTP 403: Ключ неверен"


async def test_from_openai_messages_and_types(
    sdk_model: tuple[FakeModel, ModelEndpoint],
) -> None:
    """Exact texts: the service named, the SDK's JSON error message read, the type kept."""
    fake, endpoint = sdk_model
    fake.fail_next(1, 400, body='{"error": {"message": "context too long"}}')
    error = from_openai("model", await _sdk_error(endpoint))
    assert (error.message, error.type) == ("model answered HTTP 400: context too long", "HTTP400")
    fake.hang_next(1)
    timeout = await _sdk_error(endpoint)
    error = from_openai("model", timeout)
    assert error.message == f"model: APITimeoutError: {timeout}"
    assert (error.type, error.non_retryable) == ("APITimeoutError", False)


def test_from_openai_other_sdk_errors_are_not_retried() -> None:
    """An SDK error that is neither a status nor the network (a response that fails the SDK's
    own validation, a misuse) cannot succeed on a retry."""
    error = from_openai("model", openai.OpenAIError("no api key"))
    assert (error.message, error.type, error.non_retryable) == (
        "model: no api key",
        "OpenAIError",
        True,
    )


@pytest.mark.parametrize(
    ("error", "content"),
    [
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), True),
        (httpx.InvalidURL("bad"), True),
        (LookupError("unknown encoding: x-foo"), True),
        (KeyError("k"), False),  # subclasses of LookupError are our own bugs
        (IndexError(0), False),
        (ValueError("v"), False),
    ],
)
def test_is_content_error(error: BaseException, content: bool) -> None:
    assert is_content_error(error) is content
