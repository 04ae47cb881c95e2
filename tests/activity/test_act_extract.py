"""Goal-directed extraction: the reference's shrink loop, JSON re-asks and result texts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.context import ExtractSampling, ModelEndpoint, ToolContext
from activities.read import extract, extract_evidence
from graphs import prompts
from tests.activity.helpers import SequencedModel
from tests.fakes import FakeModel, RequestRecord
from workers.config import Settings
from workers.hosting.research_worker import build_tool_context

URL = "https://site.example/page/bees"
GOAL = "How do bees communicate?"
CONTENT = (
    "Honeybees communicate the location of food through the waggle dance. " * 8
    + "The duration of the waggle run encodes distance to the flower patch. " * 8
)
VALID = {"rational": "dance section", "evidence": "The waggle dance.", "summary": "Bees dance."}
GARBAGE = "I am sorry, I cannot produce that format right now."


def _result(evidence: str, summary: str, url: str = URL) -> str:
    return (
        f"The useful information in {url} for user goal {GOAL} as follows: \n\n"
        f"Evidence in page: \n{evidence}\n\n"
        f"Summary: \n{summary}\n\n"
    )


FAILURE = _result(
    "The provided webpage content could not be accessed. Please check the URL or file format.",
    "The webpage content could not be processed, and therefore, no information is available.",
)

_PREFIX = prompts.EXTRACTOR_PROMPT.split("{webpage_content}")[0]


def _webpage(record: RequestRecord) -> str:
    """The page content inside an extractor request (also for requests the fake failed)."""
    prompt = record.body["messages"][0]["content"]
    assert prompt.startswith(_PREFIX)
    return prompt[len(_PREFIX) : prompt.index("\n\n## **User Goal**\n")]


def _sequenced(
    replies: list[str], tools: ToolContext, endpoint_for: Callable[..., ModelEndpoint]
) -> Iterator[tuple[SequencedModel, ToolContext]]:
    with SequencedModel(replies) as fake:
        yield fake, replace(tools, extract_model=endpoint_for(fake))


@pytest.fixture
def sequenced(
    request: pytest.FixtureRequest,
    tools: ToolContext,
    endpoint_for: Callable[..., ModelEndpoint],
) -> Iterator[tuple[SequencedModel, ToolContext]]:
    yield from _sequenced(request.param, tools, endpoint_for)


def _replies(*replies: str) -> Any:
    return pytest.mark.parametrize("sequenced", [list(replies)], indirect=True)


# -- FakeModel's canned extractions ---------------------------------------------------------


async def test_default_extraction(tools: ToolContext, model: FakeModel) -> None:
    text = await extract_evidence(tools, CONTENT, URL, GOAL)
    assert text == _result(CONTENT[:300], f"Page content relevant to: {GOAL}")
    (record,) = model.extraction_requests()
    assert record.body["messages"] == [
        {
            "role": "user",
            "content": prompts.EXTRACTOR_PROMPT.format(webpage_content=CONTENT, goal=GOAL),
        }
    ]
    assert record.body["temperature"] == 0.7
    assert record.meta["goal"] == GOAL and record.meta["webpage"] == CONTENT


async def test_extraction_request_sends_only_what_the_reference_sends(
    tools: ToolContext, model: FakeModel
) -> None:
    # tool_visit.py call_server: create(model=..., messages=..., temperature=0.7), nothing else
    # (no top_p, presence_penalty, max_tokens or stop of the research model's sampling).
    await extract_evidence(tools, CONTENT, URL, GOAL)
    (record,) = model.extraction_requests()
    assert set(record.body) == {"model", "messages", "temperature"}
    assert record.body["model"] == "fake-model" and record.body["temperature"] == 0.7


async def test_extraction_sampling_is_configured_apart(
    tools: ToolContext, model: FakeModel
) -> None:
    sampling = ExtractSampling(temperature=0.2, top_p=0.8, presence_penalty=0.5, max_tokens=2048)
    await extract_evidence(replace(tools, extract_sampling=sampling), CONTENT, URL, GOAL)
    (record,) = model.extraction_requests()
    assert set(record.body) == {
        "model",
        "messages",
        "temperature",
        "top_p",
        "presence_penalty",
        "max_tokens",
    }
    sent = [record.body[k] for k in ("temperature", "top_p", "presence_penalty", "max_tokens")]
    assert sent == [0.2, 0.8, 0.5, 2048]


async def test_extraction_without_temperature_sends_none(
    tools: ToolContext, model: FakeModel
) -> None:
    sampling = ExtractSampling(temperature=None, max_tokens=512)
    await extract_evidence(replace(tools, extract_sampling=sampling), CONTENT, URL, GOAL)
    (record,) = model.extraction_requests()
    assert set(record.body) == {"model", "messages", "max_tokens"}


async def test_extraction_sampling_comes_from_its_own_settings(
    http: httpx.AsyncClient, model: FakeModel, tmp_path: Path
) -> None:
    settings = Settings(
        OPENAI_BASE_URL=f"{model.url}/v1",
        DEEPRESEARCH_MODEL="fake-model",
        DEEPRESEARCH_DATA_DIR=str(tmp_path),
        DEEPRESEARCH_EXTRACT_TOP_P="0.9",
        DEEPRESEARCH_EXTRACT_MAX_TOKENS="777",
    )
    ctx = build_tool_context(settings, http)
    assert ctx.extract_sampling == ExtractSampling(temperature=0.7, top_p=0.9, max_tokens=777)
    await extract_evidence(ctx, CONTENT, URL, GOAL)
    body = model.extraction_requests()[0].body
    assert {k: v for k, v in body.items() if k not in ("model", "messages")} == {
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 777,
    }
    await ctx.extract_model.client.close()
    await ctx.research_model.client.close()


async def test_configured_extraction(tools: ToolContext, model: FakeModel) -> None:
    model.extractions["waggle dance"] = VALID
    text = await extract_evidence(tools, CONTENT, URL, GOAL)
    assert text == _result("The waggle dance.", "Bees dance.")
    assert model.extraction_requests()[0].meta["matched"] == "waggle dance"


async def test_non_string_fields_are_str(tools: ToolContext, model: FakeModel) -> None:
    model.extractions["waggle"] = {"evidence": ["a", "b"], "summary": {"k": 1}}
    text = await extract_evidence(tools, CONTENT, URL, GOAL)
    assert text == _result("['a', 'b']", "{'k': 1}")


async def test_json_but_not_an_object_fails(tools: ToolContext, model: FakeModel) -> None:
    # An extractions value that is not a dict: the reply is a JSON string, never usable.
    model.extractions["waggle"] = "this is a JSON string, not an object"  # type: ignore[assignment]
    assert await extract_evidence(tools, CONTENT, URL, GOAL) == FAILURE
    assert len(model.extraction_requests()) == 4  # first reply + 3 re-asks


async def test_400_shrinks_content_to_70_percent(tools: ToolContext, model: FakeModel) -> None:
    model.fail_next(1, 400, body='{"error": {"message": "context length exceeded"}}')
    text = await extract_evidence(tools, CONTENT, URL, GOAL)
    first, second = model.records()
    assert first.status == 400 and second.status == 200
    assert _webpage(first) == CONTENT
    shrunk = CONTENT[: int(0.7 * len(CONTENT))]
    assert _webpage(second) == shrunk == second.meta["webpage"]
    assert len(_webpage(second)) < len(_webpage(first))
    assert text == _result(shrunk[:300], f"Page content relevant to: {GOAL}")


async def test_three_shrinks_then_final_25000(tools: ToolContext, model: FakeModel) -> None:
    content = "".join(f"line {i:06d} of a very long page\n" for i in range(4000))  # 120K chars
    model.fail_next(5, 400)
    text = await extract_evidence(tools, content, URL, GOAL)
    records = model.records()
    assert [r.status for r in records] == [400] * 5 + [200]
    lengths = [len(_webpage(r)) for r in records]
    n = len(content)
    expected = [n, int(0.7 * n)]
    expected.append(int(0.7 * expected[-1]))
    expected.append(int(0.7 * expected[-1]))
    expected += [25_000, 25_000]  # the final cut, then a re-ask on the same content
    assert lengths == expected
    assert all(content.startswith(_webpage(r)) for r in records)
    assert text == _result(content[:300], f"Page content relevant to: {GOAL}")


async def test_wrong_key_everywhere_gives_failure_text(
    tools: ToolContext, endpoint_for: Callable[..., ModelEndpoint]
) -> None:
    with FakeModel(api_key="sk-right") as fake:
        ctx = replace(tools, extract_model=endpoint_for(fake, api_key="sk-wrong"))
        assert await extract_evidence(ctx, CONTENT, URL, GOAL) == FAILURE
        # first try, 3 shrinks, the 25000 cut, then 3 parse re-asks: all rejected
        assert [r.status for r in fake.records()] == [401] * 8


async def test_page_truncated_to_token_limit(tools: ToolContext, model: FakeModel) -> None:
    content = "x" * 300_000  # ~100K estimated tokens, above the 95K limit
    await extract_evidence(tools, content, URL, GOAL)
    (record,) = model.extraction_requests()
    assert record.meta["webpage"] == "x" * (95_000 * 3)


async def test_503_is_retryable(tools: ToolContext, model: FakeModel) -> None:
    model.fail_next(1, 503)
    with pytest.raises(ApplicationError) as caught:
        await extract_evidence(tools, CONTENT, URL, GOAL)
    assert not caught.value.non_retryable
    assert len(model.records()) == 1  # a retryable failure is Temporal's to retry, no shrink


# -- scripted raw replies (SequencedModel: the last reply repeats) --------------------------


@_replies(GARBAGE)
async def test_garbage_every_time_is_failure_text(
    sequenced: tuple[SequencedModel, ToolContext],
) -> None:
    fake, ctx = sequenced
    assert await extract_evidence(ctx, CONTENT, URL, GOAL) == FAILURE
    records = fake.extraction_requests()
    assert len(records) == 4  # first reply + 3 re-asks, no shrinking: the reply is long enough
    assert all(r.meta["webpage"] == CONTENT for r in records)


@_replies("nope")
async def test_short_reply_every_time_shrinks_then_fails(
    sequenced: tuple[SequencedModel, ToolContext],
) -> None:
    fake, ctx = sequenced
    assert await extract_evidence(ctx, CONTENT, URL, GOAL) == FAILURE
    lengths = [len(r.meta["webpage"]) for r in fake.extraction_requests()]
    n = len(CONTENT)
    shrinks = [int(0.7 * n)]
    for _ in range(2):
        shrinks.append(int(0.7 * shrinks[-1]))
    # under 25000 chars the final cut keeps the content; 3 re-asks follow on the same content
    assert lengths == [n, *shrinks, shrinks[-1], shrinks[-1], shrinks[-1], shrinks[-1]]


@_replies("short", json.dumps(VALID))
async def test_short_reply_then_valid(sequenced: tuple[SequencedModel, ToolContext]) -> None:
    fake, ctx = sequenced
    assert await extract_evidence(ctx, CONTENT, URL, GOAL) == _result(
        "The waggle dance.", "Bees dance."
    )
    first, second = fake.extraction_requests()
    assert second.meta["webpage"] == CONTENT[: int(0.7 * len(CONTENT))]


@_replies("```json\n" + json.dumps(VALID) + "\n```")
async def test_fenced_json(sequenced: tuple[SequencedModel, ToolContext]) -> None:
    fake, ctx = sequenced
    assert await extract_evidence(ctx, CONTENT, URL, GOAL) == _result(
        "The waggle dance.", "Bees dance."
    )
    assert len(fake.extraction_requests()) == 1


@_replies("Sure! Here it is: " + json.dumps(VALID) + " Hope this helps.")
async def test_json_inside_prose(sequenced: tuple[SequencedModel, ToolContext]) -> None:
    _, ctx = sequenced
    assert await extract_evidence(ctx, CONTENT, URL, GOAL) == _result(
        "The waggle dance.", "Bees dance."
    )


@_replies(GARBAGE, GARBAGE, json.dumps(VALID))
async def test_valid_on_second_reask(sequenced: tuple[SequencedModel, ToolContext]) -> None:
    fake, ctx = sequenced
    assert await extract_evidence(ctx, CONTENT, URL, GOAL) == _result(
        "The waggle dance.", "Bees dance."
    )
    assert len(fake.extraction_requests()) == 3


@_replies(GARBAGE, GARBAGE, GARBAGE, json.dumps(VALID))
async def test_third_reask_reply_is_used(
    sequenced: tuple[SequencedModel, ToolContext],
) -> None:
    """Deliberate deviation: the reference asks a third time and throws the reply away."""
    fake, ctx = sequenced
    text = await extract_evidence(ctx, CONTENT, URL, GOAL)
    assert len(fake.extraction_requests()) == 4
    assert text != FAILURE and "Evidence in page: \n" in text


# -- the extract node ----------------------------------------------------------------------


def _task(blob: str) -> dict[str, Any]:
    return {
        "call_id": "call-4",
        "index": 2,
        "tool": "visit",
        "url": URL,
        "goal": GOAL,
        "blob": blob,
    }


async def test_extract_node(
    tools: ToolContext, model: FakeModel, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    model.extractions["waggle"] = VALID
    result = await extract(_task(tools.blobs.put(CONTENT.encode())))
    assert set(result) == {"observations", "clock", "ledger"}
    text = _result("The waggle dance.", "Bees dance.")
    assert result["observations"] == [
        {"call_id": "call-4", "index": 2, "text": text, "source": URL}
    ]
    assert result["ledger"] == [{"url": URL, "evidence": text}]  # for grounded reports
    assert model.extraction_requests()[0].meta["webpage"] == CONTENT


async def test_extract_node_503_outside_activity_is_failure_text(
    tools: ToolContext, model: FakeModel, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    model.fail_next(1, 503)
    result = await extract(_task(tools.blobs.put(CONTENT.encode())))
    assert result["observations"][0]["text"] == FAILURE
    assert result["observations"][0]["source"] == URL
    assert "ledger" not in result  # a page that could not be read is no source


async def test_extract_node_missing_blob_raises(
    tools: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(tools)
    with pytest.raises(KeyError):
        await extract(_task("sha256:" + "0" * 64))
