"""Serper web search and Google Scholar: the reference's text formats, payloads and failures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from temporalio.exceptions import ApplicationError

from activities.context import ToolContext
from activities.errors import ToolError
from activities.scholar import scholar, scholar_search
from activities.search import search, serper_search
from graphs import prompts
from tests.activity.helpers import StaticServer
from tests.fakes import FakeSerper, Response

VIDEO = "Your browser can't play this video."


def _task(query: str) -> dict[str, object]:
    return {"call_id": "call-3", "index": 1, "tool": "search", "query": query}


# -- web search ----------------------------------------------------------------------------


async def test_reference_format(tools: ToolContext, serper: FakeSerper) -> None:
    query = "fusion power"
    serper.results[query] = [
        {
            "title": "Fusion basics",
            "link": "https://a.example/fusion",
            "date": "Mar 3, 2024",
            "source": "Example News",
            "snippet": "Fusion releases energy.",
            "position": 1,
        },
        {"title": "No extras", "link": "https://b.example/x"},
        {"title": "Only snippet", "link": "https://c.example/y", "snippet": "Short."},
    ]
    expected = (
        "A Google search for 'fusion power' found 3 results:\n\n## Web Results\n"
        "1. [Fusion basics](https://a.example/fusion)\nDate published: Mar 3, 2024"
        "\nSource: Example News\n\nFusion releases energy."
        "\n\n"
        "2. [No extras](https://b.example/x)\n"
        "\n\n"
        "3. [Only snippet](https://c.example/y)\n\nShort."
    )
    assert await serper_search(tools, query) == expected


async def test_default_fake_results_format(tools: ToolContext, serper: FakeSerper) -> None:
    base = serper.page_base
    text = await serper_search(tools, "cold fusion")
    entries = [
        f"{i}. [Result {i} for cold fusion]({base}page/cold-fusion-{i})\n"
        f"Date published: Jan 1, 2025\n\nSnippet {i} about cold fusion."
        for i in (1, 2, 3)
    ]
    header = "A Google search for 'cold fusion' found 3 results:\n\n## Web Results\n"
    assert text == header + "\n\n".join(entries)


async def test_video_placeholder_removed(tools: ToolContext, serper: FakeSerper) -> None:
    serper.results["clip"] = [
        {"title": "A clip", "link": "https://v.example/1", "snippet": f"{VIDEO} Watch the talk."}
    ]
    text = await serper_search(tools, "clip")
    assert VIDEO not in text
    assert text.endswith("1. [A clip](https://v.example/1)\n\n Watch the talk.")


async def test_empty_organic_found_zero(tools: ToolContext, serper: FakeSerper) -> None:
    serper.results["nothing"] = []
    text = await serper_search(tools, "nothing")
    assert text == "A Google search for 'nothing' found 0 results:\n\n## Web Results\n"


@pytest.mark.parametrize(
    "answer",
    [
        Response.json({"searchParameters": {"q": "zzz"}}),  # no "organic" key
        Response.text("<html>not json</html>", content_type="text/html"),
    ],
    ids=["no-organic", "not-json"],
)
async def test_no_organic_is_no_results(tools: ToolContext, answer: Response) -> None:
    with StaticServer(lambda *_: answer) as server:
        text = await serper_search(replace(tools, serper_url=server.url), "zzz")
    expected = "No results found for 'zzz'. Try with a more general query."
    assert text == expected == prompts.SEARCH_NO_RESULTS.format(query="zzz")


async def test_english_payload_and_key(tools: ToolContext, serper: FakeSerper) -> None:
    await serper_search(tools, "quantum computing")
    (record,) = serper.records()
    assert (record.method, record.path) == ("POST", "/search")
    assert record.headers["x-api-key"] == serper.api_key
    assert record.body == {
        "q": "quantum computing",
        "location": "United States",
        "gl": "us",
        "hl": "en",
    }


async def test_cjk_query_payload(tools: ToolContext, serper: FakeSerper) -> None:
    query = "量子计算 latest"
    text = await serper_search(tools, query)
    assert text.startswith(f"A Google search for '{query}' found 3 results:")
    (record,) = serper.records()
    assert record.body == {"q": query, "location": "China", "gl": "cn", "hl": "zh-cn"}


async def test_kana_only_query_is_not_chinese(tools: ToolContext, serper: FakeSerper) -> None:
    # The reference tests only U+4E00..U+9FFF: kana alone picks the US payload.
    await serper_search(tools, "カタカナ")
    assert serper.records()[0].body["gl"] == "us"


async def test_wrong_key_is_non_retryable(tools: ToolContext, serper: FakeSerper) -> None:
    with pytest.raises(ApplicationError) as caught:
        await serper_search(replace(tools, serper_key="wrong"), "anything")
    assert caught.value.non_retryable
    assert caught.value.type == "HTTP403"
    assert serper.records()[0].status == 403


async def test_missing_key_is_tool_error(tools: ToolContext, serper: FakeSerper) -> None:
    with pytest.raises(ToolError):
        await serper_search(replace(tools, serper_key=None), "anything")
    assert serper.records() == []


async def test_503_twice_then_success(tools: ToolContext, serper: FakeSerper) -> None:
    serper.fail_next(2, 503)
    for _ in range(2):
        with pytest.raises(ApplicationError) as caught:
            await serper_search(tools, "retry me")
        assert not caught.value.non_retryable
        assert caught.value.type == "HTTP503"
    text = await serper_search(tools, "retry me")
    assert text.startswith("A Google search for 'retry me' found 3 results:")
    assert [r.status for r in serper.records()] == [503, 503, 200]


async def test_429_retry_after_delay(tools: ToolContext, serper: FakeSerper) -> None:
    serper.fail_next(1, 429, retry_after=7)
    with pytest.raises(ApplicationError) as caught:
        await serper_search(tools, "busy")
    assert not caught.value.non_retryable
    assert caught.value.next_retry_delay is not None
    assert caught.value.next_retry_delay.total_seconds() == 7


async def test_search_node(
    tools: ToolContext, serper: FakeSerper, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    result = await search(_task("node query"))
    assert set(result) == {"observations", "clock"}
    assert isinstance(result["clock"], float)
    (observation,) = result["observations"]
    assert observation == {
        "call_id": "call-3",
        "index": 1,
        "text": await serper_search(tools, "node query"),
    }


async def test_search_node_503_becomes_timeout_text(
    tools: ToolContext, serper: FakeSerper, install: Callable[[ToolContext], ToolContext]
) -> None:
    # Outside an activity every attempt is the last: a retryable failure answers the fallback.
    install(tools)
    serper.fail_next(1, 503)
    result = await search(_task("flaky"))
    assert result["observations"][0]["text"] == prompts.SEARCH_TIMEOUT
    assert result["observations"][0]["text"] == (
        "Google search Timeout, return None, Please try again later."
    )


async def test_search_node_non_retryable_answers_error(
    tools: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(replace(tools, serper_key="wrong"))
    text = (await search(_task("denied")))["observations"][0]["text"]
    assert text.startswith("[search 'denied'] failed: ")
    assert "Serper answered HTTP 403" in text


async def test_search_node_without_key_answers_tool_error(
    tools: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(replace(tools, serper_key=None, search_backend="serper"))
    text = (await search(_task("nokey")))["observations"][0]["text"]
    assert text == "[search 'nokey'] no search backend configured: set SERPER_API_KEY"


# -- scholar -------------------------------------------------------------------------------


async def test_scholar_reference_format(tools: ToolContext, serper: FakeSerper) -> None:
    base = serper.page_base
    text = await scholar_search(tools, "graph neural nets")
    entries = [
        f"{i}. [Paper {i} on graph neural nets](pdfUrl: {base}pdf/graph-neural-nets-{i}.pdf)"
        f"\npublicationInfo: A Author - Journal {i}, 2024"
        f"\nDate published: 2024"
        f"\ncitedBy: {10 * i}"
        f"\n\nAbstract {i} about graph neural nets."
        for i in (1, 2)
    ]
    header = "A Google scholar for 'graph neural nets' found 2 results:\n\n## Scholar Results\n"
    assert text == header + "\n\n".join(entries)
    (record,) = serper.records()
    assert record.path == "/scholar"
    assert record.body == {"q": "graph neural nets"}  # the reference sends only q


async def test_scholar_missing_fields(tools: ToolContext, serper: FakeSerper) -> None:
    serper.scholar_results["sparse"] = [
        {"title": "Bare", "link": "https://s.example/bare"},
        {"title": "Cited", "citedBy": 0, "year": 1999, "snippet": "Old."},
    ]
    text = await scholar_search(tools, "sparse")
    assert text == (
        "A Google scholar for 'sparse' found 2 results:\n\n## Scholar Results\n"
        "1. [Bare](no available link)\n"
        "\n\n"
        "2. [Cited](no available link)\nDate published: 1999\ncitedBy: 0\n\nOld."
    )


async def test_scholar_no_organic(tools: ToolContext) -> None:
    with StaticServer(lambda *_: Response.json({"organic": None})) as server:
        text = await scholar_search(replace(tools, serper_url=server.url), "void")
    assert text == "No results found for 'void'. Try with a more general query."


async def test_scholar_video_placeholder_removed(tools: ToolContext, serper: FakeSerper) -> None:
    serper.scholar_results["talk"] = [
        {"title": "Talk", "pdfUrl": "https://p.example/t.pdf", "snippet": f"{VIDEO} Slides."}
    ]
    text = await scholar_search(tools, "talk")
    assert VIDEO not in text
    assert text.endswith("1. [Talk](pdfUrl: https://p.example/t.pdf)\n\n Slides.")


async def test_scholar_node(
    tools: ToolContext, serper: FakeSerper, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    result = await scholar({"call_id": "c", "index": 0, "query": "proteins"})
    (observation,) = result["observations"]
    assert observation == {
        "call_id": "c",
        "index": 0,
        "text": await scholar_search(tools, "proteins"),
    }


async def test_scholar_node_503_becomes_timeout_text(
    tools: ToolContext, serper: FakeSerper, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    serper.fail_next(1, 503)
    result = await scholar({"call_id": "c", "index": 0, "query": "flaky"})
    assert result["observations"][0]["text"] == prompts.SCHOLAR_TIMEOUT
    assert serper.records()[0].status == 503
