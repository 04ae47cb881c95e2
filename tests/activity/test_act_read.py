"""Page reading: Jina Reader, direct fetch + trafilatura, the `fetch` and `read` nodes and the SSRF
guard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.context import ToolContext
from activities.errors import ToolError
from activities.netguard import check_url, check_url_shape
from activities.read import MAX_REDIRECTS, fetch, read, read_page, visit_failure
from graphs import prompts
from tests.activity.helpers import StaticServer
from tests.activity.test_act_files import text_pdf
from tests.fakes import FakeJina, FakeModel, Response
from tests.fakes.jina import default_paragraphs

GOAL = "find the key facts"


def _failure(url: str) -> str:
    return (
        f"The useful information in {url} for user goal {GOAL} as follows: \n\n"
        "Evidence in page: \n"
        "The provided webpage content could not be accessed. Please check the URL or file format."
        "\n\n"
        "Summary: \n"
        "The webpage content could not be processed, and therefore, no information is available."
        "\n\n"
    )


def _task(url: str) -> dict[str, object]:
    return {"call_id": "call-2", "index": 0, "tool": "visit", "url": url, "goal": GOAL}


def _redirect(location: str) -> Callable[..., Response]:
    return lambda *_: Response(302, {"Location": location}, b"")


# -- Jina Reader ---------------------------------------------------------------------------


async def test_failure_text_is_the_reference_text() -> None:
    url = "https://x.example/a"
    assert visit_failure(url, GOAL) == _failure(url)


async def test_jina_reads_with_bearer_key(tools: ToolContext, jina: FakeJina) -> None:
    url = "https://site.example/page/quantum-dots"
    text = await read_page(tools, url)
    paragraphs = "\n\n".join(default_paragraphs("/page/quantum-dots"))
    assert text == (f"Title: quantum-dots\n\nURL Source: {url}\n\nMarkdown Content:\n{paragraphs}")
    (record,) = jina.records()
    assert record.method == "GET"
    assert record.headers["authorization"] == "Bearer test-jina-key"
    assert jina.read_targets() == [url]


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/page/internal",
        "http://169.254.169.254/latest/meta-data/",
        "http://[2002:a9fe:a9fe::]/",  # 6to4 of the metadata address
        "http://localhost:6379/",
    ],
)
async def test_reader_is_not_aimed_at_internal_hosts(
    tools: ToolContext, jina: FakeJina, url: str
) -> None:
    # A self-hosted reader inside the network would fetch them for us: refused before asking.
    with pytest.raises(ToolError, match="refused"):
        await read_page(replace(tools, allow_loopback=False), url)
    assert jina.records() == []


async def test_reader_gets_names_our_resolver_does_not_know(
    tools: ToolContext, jina: FakeJina
) -> None:
    # The hosted reader resolves public names a locked-down worker may not: they pass.
    await read_page(replace(tools, allow_loopback=False), "https://site.example/page/a")
    assert jina.read_targets() == ["https://site.example/page/a"]


async def test_reader_gets_loopback_only_with_allow_loopback(
    tools: ToolContext, jina: FakeJina
) -> None:
    await read_page(tools, "http://127.0.0.1:9/page/local")  # tests allow loopback
    assert jina.read_targets() == ["http://127.0.0.1:9/page/local"]


async def test_jina_refuses_bad_scheme_without_a_request(
    tools: ToolContext, jina: FakeJina
) -> None:
    with pytest.raises(ToolError):
        await read_page(tools, "file:///etc/passwd")
    assert jina.records() == []


async def test_jina_wrong_key_is_non_retryable(tools: ToolContext) -> None:
    with pytest.raises(ApplicationError) as caught:
        await read_page(replace(tools, jina_key="wrong"), "https://site.example/page/a")
    assert caught.value.non_retryable
    assert caught.value.type == "HTTP401"


async def test_jina_refusal_falls_back_to_a_direct_fetch(
    tools: ToolContext, jina: FakeJina
) -> None:
    jina.fail_next(1, 403)  # e.g. a site that blocks Jina
    text = await read_page(tools, f"{jina.url}/page/fallback")
    assert "/page/fallback" in text  # the default page's paragraphs name their path
    assert jina.direct_paths() == ["/page/fallback"]


async def test_jina_422_then_direct_404_is_non_retryable(
    tools: ToolContext, jina: FakeJina
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await read_page(tools, f"{jina.url}/missing/a")
    assert [r.status for r in jina.requests] == [422, 404]  # Jina, then the page itself
    assert caught.value.non_retryable
    assert caught.value.type == "HTTP404"


async def test_jina_bad_key_is_not_hidden_by_the_fallback(tools: ToolContext) -> None:
    with pytest.raises(ApplicationError) as caught:
        await read_page(replace(tools, jina_key="wrong"), "https://site.example/page/a")
    assert caught.value.type == "HTTP401"


async def test_jina_503_is_retryable(tools: ToolContext, jina: FakeJina) -> None:
    jina.fail_next(1, 503, retry_after=2)
    with pytest.raises(ApplicationError) as caught:
        await read_page(tools, "https://site.example/page/a")
    assert not caught.value.non_retryable
    assert caught.value.next_retry_delay is not None
    assert caught.value.next_retry_delay.total_seconds() == 2


# -- the fetch node ------------------------------------------------------------------------


async def test_fetch_node_stores_page(
    tools: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    url = "https://site.example/page/stored"
    result = await fetch(_task(url))
    assert set(result) == {"pages", "sources", "clock"}
    assert result["sources"] == [url]
    (page,) = result["pages"]
    assert page == {**_task(url), "blob": page["blob"]}
    assert page["blob"].startswith("sha256:") and len(page["blob"]) == 7 + 64
    stored = tools.blobs.get(page["blob"]).decode("utf-8")
    assert stored == await read_page(tools, url)
    assert default_paragraphs("/page/stored")[1] in stored


async def test_fetch_node_jina_422_is_failure_text(
    tools: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    url = "https://site.example/missing/gone"
    result = await fetch(_task(url))
    assert "pages" not in result and "sources" not in result
    assert result["observations"] == [{"call_id": "call-2", "index": 0, "text": _failure(url)}]
    expected = prompts.VISIT_RESULT.format(
        url=url,
        goal=GOAL,
        evidence=prompts.VISIT_FAILED_EVIDENCE,
        summary=prompts.VISIT_FAILED_SUMMARY,
    )
    assert result["observations"][0]["text"] == expected


async def test_fetch_node_503_outside_activity_is_failure_text(
    tools: ToolContext, jina: FakeJina, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    jina.fail_next(1, 503)
    url = "https://site.example/page/flaky"
    result = await fetch(_task(url))
    assert "pages" not in result
    assert result["observations"][0]["text"] == _failure(url)


async def test_fetch_node_blank_page_is_failure_text(
    tools: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    url = "https://site.example/page/blank"
    with StaticServer(lambda *_: Response.text("  \n ")) as reader:
        install(replace(tools, jina_url=reader.url))
        result = await fetch(_task(url))
        assert [r.path for r in reader.records()] == [f"/{url}"]
    assert "pages" not in result
    assert result["observations"][0]["text"] == _failure(url)


async def test_fetch_node_refused_url_is_failure_text(
    direct: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(direct)
    result = await fetch(_task("http://169.254.169.254/latest/meta-data/"))
    assert "pages" not in result
    assert result["observations"][0]["text"] == _failure("http://169.254.169.254/latest/meta-data/")


# -- the read node (fetch and extract in one activity) ---------------------------------------


async def test_read_node_stores_the_page_and_extracts_it(
    tools: ToolContext, model: FakeModel, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    url = "https://site.example/page/stored"
    result = await read(_task(url))
    assert set(result) == {"observations", "sources", "ledger", "clock"}
    assert result["sources"] == [url]
    (observation,) = result["observations"]
    stored = tools.blobs.get(observation["blob"]).decode("utf-8")
    assert stored == await read_page(tools, url)
    (request,) = model.extraction_requests()
    assert request.meta["webpage"] == stored
    assert observation["text"].startswith(f"The useful information in {url} for user goal")
    assert observation["text"] != _failure(url) and observation["source"] == url
    assert result["ledger"] == [{"url": url, "evidence": observation["text"]}]


async def test_read_node_unreadable_page_is_failure_text_without_extraction(
    tools: ToolContext, model: FakeModel, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    url = "https://site.example/missing/gone"
    result = await read(_task(url))
    assert result["observations"] == [{"call_id": "call-2", "index": 0, "text": _failure(url)}]
    assert "sources" not in result and model.extraction_requests() == []


async def test_read_node_retry_extracts_the_page_its_heartbeat_named(
    tools: ToolContext,
    model: FakeModel,
    jina: FakeJina,
    install: Callable[[ToolContext], ToolContext],
) -> None:
    """A first attempt reads the page and fails extracting it: it heartbeats the page's digest
    before the failure. The next attempt, given those details, extracts the stored page."""
    install(tools)
    url = "https://site.example/page/retried"
    beats: list[tuple[object, ...]] = []
    first = ActivityEnvironment()
    first.on_heartbeat = lambda *details: beats.append(details)
    model.fail_next(1, 503)
    with pytest.raises(ApplicationError):  # retryable, and not the last attempt
        await first.run(read, _task(url))
    blob, record = beats[-1]
    assert isinstance(blob, str) and len(jina.read_targets()) == 1
    assert isinstance(record, dict) and record["via"] == "jina" and record["status"] == 200
    second = ActivityEnvironment()
    second.info = replace(second.info, attempt=2, heartbeat_details=[blob, record])
    result = await second.run(read, _task(url))
    assert len(jina.read_targets()) == 1  # not read again
    assert result["observations"][0]["blob"] == blob and result["sources"] == [url]
    assert result["observations"][0]["fetch"] == record  # how the first attempt fetched it
    assert model.extraction_requests()[-1].meta["webpage"] == tools.blobs.get(blob).decode()
    assert result["observations"][0]["text"] != _failure(url)


# -- direct fetch --------------------------------------------------------------------------


async def test_direct_fetch_extracts_paragraphs(direct: ToolContext, jina: FakeJina) -> None:
    text = await read_page(direct, f"{jina.url}/page/solar-sails")
    for paragraph in default_paragraphs("/page/solar-sails"):
        assert paragraph in text
    assert jina.direct_paths() == ["/page/solar-sails"]
    assert "<p>" not in text and "<html" not in text
    (record,) = jina.records()
    assert "authorization" not in record.headers  # no Jina key leaks to the website


async def test_direct_fetch_given_page_markdown(direct: ToolContext, jina: FakeJina) -> None:
    jina.pages["/page/custom"] = (
        "# Custom Title\n\n"
        "The custom page has a first paragraph with enough words for the extractor to keep it.\n\n"
        "## Details\n\n"
        "A second paragraph follows the heading and also carries plenty of ordinary words."
    )
    text = await read_page(direct, f"{jina.url}/page/custom")
    assert "The custom page has a first paragraph" in text
    assert "A second paragraph follows the heading" in text


async def test_fetch_node_direct_stores_markdown(
    direct: ToolContext, jina: FakeJina, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(direct)
    url = f"{jina.url}/page/tidal-power"
    result = await fetch(_task(url))
    stored = direct.blobs.get(result["pages"][0]["blob"]).decode()
    assert default_paragraphs("/page/tidal-power")[0] in stored
    assert result["sources"] == [url]


async def test_direct_404_non_retryable_503_retryable(direct: ToolContext, jina: FakeJina) -> None:
    with pytest.raises(ApplicationError) as caught:
        await read_page(direct, f"{jina.url}/nowhere")
    assert caught.value.non_retryable and caught.value.type == "HTTP404"
    jina.fail_next(1, 503)
    with pytest.raises(ApplicationError) as caught:
        await read_page(direct, f"{jina.url}/page/a")
    assert not caught.value.non_retryable


async def test_direct_page_size_cap(direct: ToolContext, jina: FakeJina) -> None:
    with pytest.raises(ToolError, match="larger than 200 bytes"):
        await read_page(replace(direct, page_max_bytes=200), f"{jina.url}/page/big")


async def test_direct_follows_redirect_to_allowed_page(direct: ToolContext, jina: FakeJina) -> None:
    with StaticServer(_redirect(f"{jina.url}/page/landing")) as hop:
        text = await read_page(direct, f"{hop.url}/start")
    assert default_paragraphs("/page/landing")[0] in text
    assert jina.direct_paths() == ["/page/landing"]


async def test_read_node_records_the_final_url_status_and_time(
    direct: ToolContext, jina: FakeJina, install: Callable[[ToolContext], ToolContext]
) -> None:
    """The observation says how the page was fetched (provenance bundles): after a redirect,
    the URL that answered, its status and when."""
    install(direct)
    with StaticServer(_redirect(f"{jina.url}/page/landing")) as hop:
        result = await read(_task(f"{hop.url}/start"))
    record = result["observations"][0]["fetch"]
    assert record["via"] == "direct" and record["status"] == 200
    assert record["final_url"] == f"{jina.url}/page/landing"
    assert record["fetched_at"].endswith("Z") and record["fetched_at"][:2] == "20"


async def test_direct_relative_redirect(direct: ToolContext, jina: FakeJina) -> None:
    jina.pages["/page/target"] = "Relative redirects resolve against the current URL of the hop."

    def answer(method: str, path: str, *_: object) -> Response:
        return _redirect("/page/target")() if path == "/old" else jina.handle(method, path, {}, b"")

    with StaticServer(answer) as site:
        text = await read_page(direct, f"{site.url}/old")
    assert "Relative redirects resolve" in text


async def test_redirect_to_private_address_refused(direct: ToolContext) -> None:
    with StaticServer(_redirect("http://10.1.2.3/secret")) as hop:
        with pytest.raises(ToolError, match="10.1.2.3"):
            await read_page(direct, f"{hop.url}/start")
        assert [r.path for r in hop.records()] == ["/start"]


async def test_redirect_to_metadata_refused(direct: ToolContext) -> None:
    with StaticServer(_redirect("http://169.254.169.254/latest/meta-data/")) as hop:
        with pytest.raises(ToolError, match="169.254.169.254 resolves to"):
            await read_page(direct, f"{hop.url}/start")


async def test_loopback_page_refused_without_allow_loopback(
    direct: ToolContext, jina: FakeJina
) -> None:
    with pytest.raises(ToolError, match="loopback"):
        await read_page(replace(direct, allow_loopback=False), f"{jina.url}/page/a")
    assert jina.records() == []


async def test_redirect_loop_gives_up(direct: ToolContext) -> None:
    with StaticServer(_redirect("/again")) as loop:
        with pytest.raises(ToolError, match=f"more than {MAX_REDIRECTS} redirects"):
            await read_page(direct, f"{loop.url}/again")
        assert len(loop.records()) == MAX_REDIRECTS + 1


async def test_fetch_node_private_redirect_is_failure_text(
    direct: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(direct)
    with StaticServer(_redirect("http://10.1.2.3/")) as hop:
        url = f"{hop.url}/go"
        result = await fetch(_task(url))
    assert "pages" not in result
    assert result["observations"][0]["text"] == _failure(url)


# -- netguard ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/file",
        "gopher://example.com/",
        "http:///nohost",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://example.com:99999/",
    ],
)
def test_shape_refused(url: str) -> None:
    with pytest.raises(ToolError):
        check_url_shape(url)


def test_shape_ports() -> None:
    assert check_url_shape("https://Example.COM./x") == ("example.com", 443)
    assert check_url_shape("http://example.com/x") == ("example.com", 80)
    assert check_url_shape("http://example.com:8080/x") == ("example.com", 8080)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/file",
        "http://169.254.169.254/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:10.0.0.1]/",
    ],
)
async def test_check_url_refused(url: str) -> None:
    with pytest.raises(ToolError):
        await check_url(url, allow_loopback=True)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/", "http://127.8.9.10:8080/x", "http://[::1]/", "http://localhost/"]
)
async def test_loopback_needs_allow_loopback(url: str) -> None:
    with pytest.raises(ToolError, match="loopback"):
        await check_url(url, allow_loopback=False)
    await check_url(url, allow_loopback=True)


async def test_unresolvable_host_is_tool_error() -> None:
    with pytest.raises(ToolError, match="cannot resolve"):
        await check_url("http://no-such-host.invalid/", allow_loopback=True)


@pytest.mark.parametrize("url", ["http://100.100.100.200/latest/meta-data/", "http://100.64.0.1/"])
async def test_shared_address_space_refused(url: str) -> None:
    with pytest.raises(ToolError):
        await check_url(url, allow_loopback=False)


async def test_jina_passes_query_string_through(tools: ToolContext, jina: FakeJina) -> None:
    url = "https://site.example/page/search?q=bees&lang=en"
    text = await read_page(tools, url)
    assert f"URL Source: {url}\n" in text
    assert jina.read_targets() == [url]


async def test_direct_fetch_reads_a_pdf_url(tools: ToolContext) -> None:
    pdf = text_pdf(["Reinforcement learning foundations"])
    serve = StaticServer(lambda *_: Response(200, {"Content-Type": "application/pdf"}, pdf))
    with serve as server:
        text = await read_page(replace(tools, jina_key=None), f"{server.url}/paper.pdf")
    assert "Reinforcement learning foundations" in text


# -- hostile pages and URLs: an error observation, never a failed session ------------------------

# Codecs that are no text encoding, or that cannot decode arbitrary bytes.
HOSTILE_CHARSETS = ["rot13", "base64", "hex", "zlib", "idna", "undefined", "bz2"]
# A real encoding the body is not in (utf-32 without a BOM): junk text, but no exception.
LYING_CHARSETS = [*HOSTILE_CHARSETS, "utf-32"]
PAGE = (
    "<html><head><title>Charsets</title></head><body><article><p>"
    + "A page that names a charset which is no text encoding still has readable words. " * 3
    + "</p></article></body></html>"
).encode()


def _page_with(charset: str, status: int = 200) -> Callable[..., Response]:
    headers = {"Content-Type": f"text/html; charset={charset}"}
    return lambda *_: Response(status, headers, PAGE)


@pytest.mark.parametrize("charset", HOSTILE_CHARSETS)
async def test_direct_page_with_a_hostile_charset_is_read_as_utf8(
    direct: ToolContext, charset: str
) -> None:
    with StaticServer(_page_with(charset)) as site:
        text = await read_page(direct, f"{site.url}/page")
    assert "still has readable words" in text


@pytest.mark.parametrize("charset", LYING_CHARSETS)
async def test_error_page_with_a_hostile_charset_keeps_its_status(
    direct: ToolContext, charset: str
) -> None:
    with StaticServer(_page_with(charset, status=404)) as site:
        with pytest.raises(ApplicationError) as caught:
            await read_page(direct, f"{site.url}/page")
    assert caught.value.type == "HTTP404" and caught.value.non_retryable


@pytest.mark.parametrize("charset", ["rot13", "base64", "idna"])
async def test_reader_answer_with_a_hostile_charset_is_read(
    tools: ToolContext, charset: str
) -> None:
    headers = {"Content-Type": f"text/plain; charset={charset}"}
    with StaticServer(lambda *_: Response(200, headers, b"Title: t\n\nplain words")) as reader:
        text = await read_page(replace(tools, jina_url=reader.url), "https://site.example/p")
    assert text == "Title: t\n\nplain words"


@pytest.mark.parametrize("charset", ["rot13", "zlib", "idna"])
async def test_reader_error_with_a_hostile_charset_keeps_its_status(
    tools: ToolContext, charset: str
) -> None:
    headers = {"Content-Type": f"text/plain; charset={charset}"}
    with StaticServer(lambda *_: Response(503, headers, b"busy")) as reader:
        with pytest.raises(ApplicationError) as caught:
            await read_page(replace(tools, jina_url=reader.url), "https://site.example/p")
    assert caught.value.type == "HTTP503" and not caught.value.non_retryable


@pytest.mark.parametrize("charset", LYING_CHARSETS)
async def test_fetch_node_with_a_hostile_charset_stores_or_answers(
    direct: ToolContext, install: Callable[[ToolContext], ToolContext], charset: str
) -> None:
    install(direct)
    for status in (200, 404):
        with StaticServer(_page_with(charset, status)) as site:
            url = f"{site.url}/page"
            result = await fetch(_task(url))
        if status == 404 or "pages" not in result:
            assert result["observations"][0]["text"] == _failure(url)
        else:
            stored = direct.blobs.get(result["pages"][0]["blob"]).decode()
            assert "still has readable words" in stored


@pytest.mark.parametrize(
    "location", ["http:127.0.0.1/", "https:127.0.0.1/", "http:\\\\127.0.0.1/", "http://[::1"]
)
async def test_redirect_to_an_unparsable_location_is_failure_text(
    direct: ToolContext, install: Callable[[ToolContext], ToolContext], location: str
) -> None:
    install(direct)
    with StaticServer(_redirect(location)) as hop:
        url = f"{hop.url}/start"
        result = await fetch(_task(url))
        assert [r.path for r in hop.records()] == ["/start"]
    assert "pages" not in result
    assert result["observations"][0]["text"] == _failure(url)


@pytest.mark.parametrize("location", ["http:127.0.0.1/", "https:127.0.0.1/"])
async def test_redirect_to_an_unparsable_location_is_a_tool_error(
    direct: ToolContext, location: str
) -> None:
    with StaticServer(_redirect(location)) as hop:
        with pytest.raises(ToolError, match="invalid URL"):
            await read_page(direct, f"{hop.url}/start")


@pytest.mark.parametrize("where", ["host", "path"])
async def test_url_with_a_tab_is_refused_before_any_request(
    direct: ToolContext, install: Callable[[ToolContext], ToolContext], where: str
) -> None:
    install(direct)
    with StaticServer(lambda *_: Response.text("never served")) as site:
        if where == "host":
            url = site.url.replace("127.0.0.1", "127.0.0.\t1") + "/page"
        else:
            url = f"{site.url}/pa\tge"
        with pytest.raises(ToolError, match="invalid URL"):
            await read_page(direct, url)
        result = await fetch(_task(url))
        assert site.records() == []
    assert result["observations"][0]["text"] == _failure(url)


async def test_url_with_a_tab_is_not_handed_to_the_reader(
    tools: ToolContext, jina: FakeJina
) -> None:
    with pytest.raises(ToolError, match="invalid URL"):
        await read_page(tools, "https://site.exa\tmple/page/a")
    assert jina.records() == []


async def test_url_httpx_cannot_parse_is_a_tool_error(direct: ToolContext) -> None:
    # getaddrinfo reads the octal form as 127.0.0.1 (allowed here); httpx refuses the URL
    with pytest.raises(ToolError, match="invalid URL"):
        await read_page(direct, "http://0177.0.0.1:9/")
