"""Search backends (SearXNG, ddgs, local corpus), their choice, and `doc:` pages from the index."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException
from temporalio.exceptions import ApplicationError

from activities import corpus as corpus_module
from activities.blobstore import LocalBlobStore
from activities.context import ToolContext
from activities.corpus import build_index, parse_plain, read_document, search_index
from activities.errors import ToolError
from activities.read import fetch, read_page
from activities.search import (
    BACKENDS,
    choose_backend,
    ddgs_organic,
    ddgs_search,
    search,
    searxng_search,
    web_search,
)
from tests.activity.helpers import closed_port
from tests.fakes import FakeSerper
from tests.fakes.searxng import FakeSearxng

HEADER = "A Google search for '{query}' found {count} results:\n\n## Web Results\n"


def _task(query: str) -> dict[str, object]:
    return {"call_id": "call-7", "index": 0, "tool": "search", "query": query}


@pytest.fixture
def searxng() -> Iterator[FakeSearxng]:
    with FakeSearxng(page_base="https://site.example/") as fake:
        yield fake


@pytest.fixture
def via_searxng(tools: ToolContext, searxng: FakeSearxng) -> ToolContext:
    """No Serper key, a SearXNG URL: the automatic choice is SearXNG."""
    return replace(tools, serper_key=None, searxng_url=searxng.url)


# -- SearXNG ---------------------------------------------------------------------------------


async def test_searxng_reference_format(via_searxng: ToolContext, searxng: FakeSearxng) -> None:
    text = await web_search(via_searxng, "cold fusion")
    assert text == HEADER.format(query="cold fusion", count=3) + (
        "1. [Result 1 for cold fusion](https://site.example/page/cold-fusion-1)\n"
        "Date published: Jan 1, 2025\n\nSnippet 1 about cold fusion."
        "\n\n"
        "2. [Result 2 for cold fusion](https://site.example/page/cold-fusion-2)\n"
        "\nSnippet 2 about cold fusion."
        "\n\n"
        "3. [Result 3 for cold fusion](https://site.example/page/cold-fusion-3)\n"
        "\nSnippet 3 about cold fusion."
    )
    assert searxng.queries() == ["cold fusion"]


async def test_searxng_fields_mapped_like_serper(
    via_searxng: ToolContext, searxng: FakeSearxng
) -> None:
    searxng.results["fusion"] = [
        {"url": "https://a.example/x", "title": "Dated", "publishedDate": "2024-03-03T10:00:00Z"},
        {"url": "https://b.example/y", "title": "Odd date", "publishedDate": "last week"},
        {"title": "No url is dropped", "content": "x"},
        *[{"url": f"https://c.example/{i}", "title": f"T{i}", "content": "c"} for i in range(20)],
    ]
    text = await web_search(via_searxng, "fusion")
    assert text.startswith(HEADER.format(query="fusion", count=10))  # Serper's page size
    assert "1. [Dated](https://a.example/x)\nDate published: Mar 3, 2024\n\n\n2." in text
    assert "2. [Odd date](https://b.example/y)\nDate published: last week\n" in text
    assert "No url" not in text


async def test_searxng_params_follow_cjk_rule(
    via_searxng: ToolContext, searxng: FakeSearxng
) -> None:
    await web_search(via_searxng, "quantum computing")
    await web_search(via_searxng, "量子计算 latest")
    english, chinese = searxng.params()
    assert english == {"q": "quantum computing", "format": "json", "language": "en-US"}
    assert chinese == {"q": "量子计算 latest", "format": "json", "language": "zh-CN"}


async def test_searxng_json_disabled_is_non_retryable(
    via_searxng: ToolContext, searxng: FakeSearxng
) -> None:
    searxng.json_enabled = False
    with pytest.raises(ApplicationError) as caught:
        await searxng_search(via_searxng, "anything")
    assert caught.value.non_retryable
    assert caught.value.type == "HTTP403"
    assert "search.formats" in str(caught.value)


@pytest.mark.parametrize("status", [429, 503])
async def test_searxng_busy_is_retryable(
    via_searxng: ToolContext, searxng: FakeSearxng, status: int
) -> None:
    searxng.fail_next(1, status, retry_after=3)
    with pytest.raises(ApplicationError) as caught:
        await searxng_search(via_searxng, "busy")
    assert not caught.value.non_retryable
    assert caught.value.type == f"HTTP{status}"
    assert caught.value.next_retry_delay is not None
    assert caught.value.next_retry_delay.total_seconds() == 3
    assert (await searxng_search(via_searxng, "busy")).startswith(
        HEADER.format(query="busy", count=3)
    )


async def test_searxng_unresponsive_engines_retry(
    via_searxng: ToolContext, searxng: FakeSearxng
) -> None:
    searxng.results["blocked"] = []
    searxng.unresponsive["blocked"] = [["google", "timeout"], ["brave", "too many requests"]]
    with pytest.raises(ApplicationError) as caught:
        await searxng_search(via_searxng, "blocked")
    assert not caught.value.non_retryable
    assert "google, brave" in str(caught.value)


async def test_searxng_empty_results_found_zero(
    via_searxng: ToolContext, searxng: FakeSearxng
) -> None:
    searxng.results["nothing"] = []
    assert await searxng_search(via_searxng, "nothing") == HEADER.format(query="nothing", count=0)


async def test_searxng_unreachable_is_retryable(via_searxng: ToolContext) -> None:
    ctx = replace(via_searxng, searxng_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ApplicationError) as caught:
        await searxng_search(ctx, "down")
    assert not caught.value.non_retryable
    assert caught.value.type == "ConnectError"


async def test_searxng_without_url_is_tool_error(tools: ToolContext) -> None:
    with pytest.raises(ToolError, match="SearXNG URL"):
        await web_search(replace(tools, search_backend="searxng"), "q")


async def test_search_node_through_searxng(
    via_searxng: ToolContext,
    searxng: FakeSearxng,
    install: Callable[[ToolContext], ToolContext],
) -> None:
    install(via_searxng)
    (observation,) = (await search(_task("node query")))["observations"]
    assert observation["text"] == await searxng_search(via_searxng, "node query")


# -- choosing a backend ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "key", "url", "expected"),
    [
        ("", "k", "http://searx", "serper"),
        ("", None, "http://searx", "searxng"),
        ("", None, None, "ddgs"),
        ("", "", None, "ddgs"),
        ("ddgs", "k", "http://searx", "ddgs"),
        ("local", "k", None, "local"),
        (" SearXNG ", "k", "http://searx", "searxng"),
    ],
)
def test_choice(
    tools: ToolContext, backend: str, key: str | None, url: str | None, expected: str
) -> None:
    ctx = replace(tools, search_backend=backend, serper_key=key, searxng_url=url)
    assert choose_backend(ctx) == expected


def test_unknown_backend_names_the_choices(tools: ToolContext) -> None:
    with pytest.raises(ToolError) as caught:
        choose_backend(replace(tools, search_backend="bing"))
    message = str(caught.value)
    assert "'bing'" in message
    assert all(name in message for name in BACKENDS)


async def test_unknown_backend_in_search_node(
    tools: ToolContext, serper: FakeSerper, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(replace(tools, search_backend="google"))
    text = (await search(_task("q")))["observations"][0]["text"]
    assert text.startswith("[search 'q'] unknown search backend 'google': choose one of serper,")
    assert serper.records() == []


async def test_explicit_serper(tools: ToolContext, serper: FakeSerper) -> None:
    ctx = replace(tools, search_backend="serper", searxng_url="http://127.0.0.1:9")
    assert (await web_search(ctx, "q")).startswith(HEADER.format(query="q", count=3))
    assert serper.queries() == ["q"]


# -- ddgs (its network call replaced by a canned function) -----------------------------------

DDGS_RESULTS = [
    {"title": "Fusion basics", "href": "https://a.example/fusion", "body": "Fusion releases."},
    {"title": "No body", "href": "https://b.example/x", "body": ""},
    {"title": "No link", "href": "", "body": "dropped"},
]


def test_ddgs_mapping() -> None:
    assert ddgs_organic(DDGS_RESULTS) == {
        "organic": [
            {
                "title": "Fusion basics",
                "link": "https://a.example/fusion",
                "snippet": "Fusion releases.",
            },
            {"title": "No body", "link": "https://b.example/x"},
        ]
    }


async def test_ddgs_reference_format_and_region() -> None:
    calls: list[tuple[str, str, int]] = []

    def text(query: str, region: str, max_results: int) -> list[dict[str, Any]]:
        calls.append((query, region, max_results))
        return DDGS_RESULTS

    assert await ddgs_search("fusion", text) == HEADER.format(query="fusion", count=2) + (
        "1. [Fusion basics](https://a.example/fusion)\n\nFusion releases.\n\n"
        "2. [No body](https://b.example/x)\n"
    )
    await ddgs_search("量子 fusion", text)
    assert calls == [("fusion", "us-en", 10), ("量子 fusion", "cn-zh", 10)]


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (RatelimitException("202 Ratelimit"), True),
        (TimeoutException("timed out"), True),
        (DDGSException("ConnectError: connection refused"), True),
        (ValueError("parser bug"), False),
    ],
)
async def test_ddgs_errors(error: Exception, retryable: bool) -> None:
    def text(*_: object) -> list[dict[str, Any]]:
        raise error

    with pytest.raises(ApplicationError) as caught:
        await ddgs_search("q", text)
    assert caught.value.non_retryable is not retryable
    assert caught.value.type == type(error).__name__


async def test_ddgs_no_results_is_zero_results() -> None:
    def text(*_: object) -> list[dict[str, Any]]:
        raise DDGSException("No results found.")

    assert await ddgs_search("zzz", text) == HEADER.format(query="zzz", count=0)


async def test_ddgs_empty_query_is_tool_error() -> None:
    with pytest.raises(ToolError):
        await ddgs_search("  ", lambda *_: [])


# -- local corpus ----------------------------------------------------------------------------

HTML = """<html><head><title>Tidal Power Notes</title></head><body><article>
<h1>Tidal Power Notes</h1>
<p>Tidal barrages capture energy from the rise and fall of the sea. The La Rance station in
France has produced electricity from the tides since 1966, and remains a reference design.</p>
<p>Tidal stream turbines work like underwater wind turbines placed in fast currents.</p>
</article></body></html>"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    source = tmp_path / "corpus"
    (source / "energy").mkdir(parents=True)
    (source / "solar.txt").write_text(
        "Photovoltaic cells turn sunlight into electricity.\nPerovskite cells are cheaper.\n"
    )
    (source / "energy" / "wind.md").write_text(
        "# Wind turbines\n\nOffshore wind farms use large turbines in the North Sea.\n"
    )
    (source / "energy" / "tides.html").write_text(HTML)
    (source / "data.json").write_text('{"topic": "geothermal", "depth_km": 5}')
    (source / "image.bin").write_bytes(b"\x00\x01binary")
    (source / ".hidden.txt").write_text("secret geothermal notes")
    return source


@pytest.fixture
def index(corpus: Path, tmp_path: Path) -> Path:
    """Built with the corpus module's own parser, so these tests do not depend on how
    activities.files (when present) renders a format."""
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, parse=parse_plain)
    return index_dir


@pytest.fixture
def local(tools: ToolContext, index: Path) -> ToolContext:
    return replace(tools, search_backend="local", index_dir=str(index))


def test_build_index_stats(corpus: Path, tmp_path: Path) -> None:
    stats = build_index(corpus, tmp_path / "index", parse=parse_plain)
    assert (stats.added, stats.updated, stats.unchanged, stats.removed) == (4, 0, 0, 0)
    assert stats.documents == 4
    assert [s.split(":")[0] for s in stats.skipped] == ["image.bin"]
    again = build_index(corpus, tmp_path / "index", parse=parse_plain)
    assert (again.added, again.updated, again.unchanged, again.documents) == (0, 0, 4, 4)


def test_search_finds_the_right_document(index: Path) -> None:
    results = search_index(index, "tidal barrages La Rance")
    first = results[0]
    assert first["link"] == "doc:energy/tides.html"
    assert first["title"] == "Tidal Power Notes"
    assert "**barrages**" in first["snippet"]
    assert "\n" not in first["snippet"]
    wind = search_index(index, "offshore turbines")[0]
    assert (wind["link"], wind["title"]) == ("doc:energy/wind.md", "Wind turbines")
    assert search_index(index, "geothermal")[0]["link"] == "doc:data.json"


def test_query_syntax_is_plain_text(index: Path) -> None:
    # colons, brackets and a lone quote are words to a model, not tantivy syntax
    results = search_index(index, 'photovoltaic: "sunlight (cells] -cheap AND')
    assert results[0]["link"] == "doc:solar.txt"
    assert search_index(index, "zebra xylophone") == []


def test_title_only_match_shows_the_opening(corpus: Path, tmp_path: Path) -> None:
    (corpus / "quasar.txt").write_text("Plain words\nabout nothing. " * 30)
    build_index(corpus, tmp_path / "index", parse=parse_plain)
    (hit,) = search_index(tmp_path / "index", "quasar")
    assert hit["title"] == "quasar.txt"  # no heading: the file name
    assert hit["snippet"].startswith("Plain words about nothing. Plain words")
    assert hit["snippet"].endswith(" ...")
    assert len(hit["snippet"]) <= 250


async def test_read_page_of_a_doc_id(local: ToolContext) -> None:
    text = await read_page(local, "doc:energy/wind.md")
    assert text == "# Wind turbines\n\nOffshore wind farms use large turbines in the North Sea.\n"
    assert read_document(local.index_dir or "", "doc:solar.txt").startswith("Photovoltaic")
    assert "La Rance" in await read_page(local, "doc:energy/tides.html")


async def test_unknown_doc_id_is_tool_error(local: ToolContext) -> None:
    with pytest.raises(ToolError, match="no document 'doc:missing.txt'"):
        await read_page(local, "doc:missing.txt")


async def test_doc_id_without_index_is_tool_error(tools: ToolContext) -> None:
    with pytest.raises(ToolError, match="no local index is configured"):
        await read_page(tools, "doc:solar.txt")


async def test_missing_index_dir_is_tool_error(tools: ToolContext, tmp_path: Path) -> None:
    ctx = replace(tools, search_backend="local", index_dir=str(tmp_path / "nowhere"))
    with pytest.raises(ToolError, match="no local index at"):
        await web_search(ctx, "anything")
    with pytest.raises(ToolError, match="no local index at"):
        await read_page(ctx, "doc:solar.txt")


def test_reindex_updates_changed_files(corpus: Path, index: Path) -> None:
    (corpus / "solar.txt").write_text("Solar thermal collectors heat water with mirrors.\n")
    (corpus / "energy" / "wind.md").unlink()
    (corpus / "hydro.txt").write_text("Hydroelectric dams store water.\n")
    stats = build_index(corpus, index, parse=parse_plain)
    assert (stats.added, stats.updated, stats.unchanged, stats.removed) == (1, 1, 2, 1)
    assert stats.documents == 4
    assert search_index(index, "photovoltaic") == []
    assert search_index(index, "mirrors")[0]["link"] == "doc:solar.txt"
    assert search_index(index, "offshore") == []
    assert read_document(index, "doc:solar.txt").startswith("Solar thermal")
    with pytest.raises(ToolError):
        read_document(index, "doc:energy/wind.md")


def test_custom_parser(corpus: Path, tmp_path: Path) -> None:
    seen: list[str] = []

    def parse(name: str, data: bytes) -> str:
        seen.append(name)
        if name.endswith(".bin"):
            return "# Binary blob\n\ndecoded by the parser"
        return data.decode()

    stats = build_index(corpus, tmp_path / "index", parse=parse)
    assert stats.skipped == ()
    assert sorted(seen) == ["data.json", "image.bin", "solar.txt", "tides.html", "wind.md"]
    (hit,) = search_index(tmp_path / "index", "decoded")
    assert (hit["link"], hit["title"]) == ("doc:image.bin", "Binary blob")


def test_index_inside_the_corpus_is_not_indexed(corpus: Path) -> None:
    stats = build_index(corpus, corpus / "index", parse=parse_plain)
    assert stats.documents == 4
    assert build_index(corpus, corpus / "index", parse=parse_plain).unchanged == 4


def test_default_parser_is_files_parse_bytes_when_present() -> None:
    files = pytest.importorskip("activities.files")
    if not callable(getattr(files, "parse_bytes", None)):
        pytest.skip("activities.files has no parse_bytes yet")
    assert corpus_module._default_parser() is files.parse_bytes


def test_default_parser_indexes_text_and_markdown(corpus: Path, tmp_path: Path) -> None:
    stats = build_index(corpus, tmp_path / "index")
    assert stats.documents >= 3  # txt, md, html at least, whichever parser is in use
    assert search_index(tmp_path / "index", "perovskite")[0]["link"] == "doc:solar.txt"
    assert search_index(tmp_path / "index", "offshore")[0]["link"] == "doc:energy/wind.md"


async def test_search_node_local_end_to_end(
    local: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(local)
    result = await search(_task("offshore wind turbines"))
    (observation,) = result["observations"]
    text = observation["text"]
    assert text.startswith(HEADER.format(query="offshore wind turbines", count=2))
    assert text == await web_search(local, "offshore wind turbines")
    assert "1. [Wind turbines](doc:energy/wind.md)\n\n" in text
    assert "2. [Tidal Power Notes](doc:energy/tides.html)\n\n" in text
    assert "**Offshore** **wind** farms use large **turbines**" in text


async def test_fetch_node_reads_a_doc_id(
    local: ToolContext, tmp_path: Path, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(replace(local, blobs=LocalBlobStore(tmp_path / "blobs2"), jina_key=None))
    task = {"call_id": "c", "index": 0, "url": "doc:solar.txt", "goal": "cells"}
    result = await fetch(task)
    (page,) = result["pages"]
    assert result["sources"] == ["doc:solar.txt"]
    stored = LocalBlobStore(tmp_path / "blobs2").get(page["blob"]).decode()
    assert stored.startswith("Photovoltaic cells")


async def test_explicit_serper_without_key_answers_tool_error(
    tools: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(replace(tools, serper_key=None, search_backend="serper"))
    text = (await search(_task("nokey")))["observations"][0]["text"]
    assert text == "[search 'nokey'] no search backend configured: set SERPER_API_KEY"


async def test_local_without_index_is_tool_error(tools: ToolContext) -> None:
    with pytest.raises(ToolError, match="needs an index"):
        await web_search(replace(tools, search_backend="local"), "anything")
