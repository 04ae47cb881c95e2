"""Self-check for the loopback HTTP fakes in tests/fakes, exercised over real sockets."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.fakes import FakeJina, FakeModel, FakeSerper, FakeServer, RequestRecord

QUESTION = "Who wrote the fake paper?"
SCRIPT = ["<think>first</think>\n<tool_call>search</tool_call>", "<answer>Alice</answer>"]


def _extraction_prompt(content: str, goal: str) -> str:
    # Mirrors the agent's extractor prompt, including the trailing space after the heading.
    return (
        "Please process the following webpage content and user goal to extract relevant "
        "information:\n\n"
        f"## **Webpage Content** \n{content}\n\n"
        f"## **User Goal**\n{goal}\n\n"
        "## **Task Guidelines**\n1. Do things."
    )


@pytest.fixture
def model() -> Iterator[FakeModel]:
    with FakeModel(scripts={QUESTION: SCRIPT}, api_key="sk-test") as fm:
        yield fm


def _client(fm: FakeModel, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{fm.url}/v1", api_key="sk-test", **kwargs)  # type: ignore[arg-type]


# -- base ----------------------------------------------------------------------------------


def test_lifecycle_health_and_log() -> None:
    fake = FakeServer().start()
    try:
        assert fake.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{fake.url}/_health").json() == {"ok": True}
        r = httpx.post(f"{fake.url}/x?y=1", json={"a": 1}, headers={"X-Thing": "v"})
        assert r.status_code == 404
        (rec,) = fake.requests  # health checks are not logged
        assert isinstance(rec, RequestRecord)
        assert (rec.method, rec.path, rec.status, rec.body) == ("POST", "/x?y=1", 404, {"a": 1})
        assert rec.headers["x-thing"] == "v" and rec.raw == b'{"a":1}'
        fake.clear_log()
        assert fake.requests == []
    finally:
        fake.stop()
    fake.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{rec.headers['host'].split(':')[1]}/_health")


def test_fail_next_with_retry_after_then_recovers() -> None:
    with FakeSerper() as fs:
        fs.fail_next(2, status=429, retry_after=1.5, body='{"message": "slow down"}')
        for _ in range(2):
            r = httpx.post(f"{fs.url}/search", json={"q": "x"}, headers={"X-API-KEY": "nope"})
            assert r.status_code == 429
            assert r.headers["retry-after"] == "1.5"
            assert r.json() == {"message": "slow down"}
        assert httpx.get(f"{fs.url}/_health").status_code == 200  # not consumed by health
        ok = httpx.post(f"{fs.url}/search", json={"q": "x"}, headers={"X-API-KEY": fs.api_key})
        assert ok.status_code == 200
        assert [r.status for r in fs.requests] == [429, 429, 200]
        assert fs.queries() == ["x"]


def test_latency_is_added() -> None:
    with FakeServer() as fake:
        fake.latency = 0.3
        t0 = time.monotonic()
        httpx.get(f"{fake.url}/anything")
        assert time.monotonic() - t0 >= 0.3
        t0 = time.monotonic()
        httpx.get(f"{fake.url}/_health")
        assert time.monotonic() - t0 < 0.3  # health checks skip latency too


def test_hang_next_times_out_client_and_stop_releases_it() -> None:
    fake = FakeServer().start()
    fake.hang_next(2)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{fake.url}/a", timeout=0.3)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.get(f"{fake.url}/b", timeout=30)
        except httpx.HTTPError as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    fake.wait_for_requests(2)
    t0 = time.monotonic()
    fake.stop()
    t.join(timeout=5)
    assert not t.is_alive() and time.monotonic() - t0 < 5
    assert isinstance(errors[0], httpx.RemoteProtocolError)  # closed without a reply
    assert [(r.path, r.status) for r in fake.requests] == [("/a", 0), ("/b", 0)]


# -- model ---------------------------------------------------------------------------------


def test_model_lists_models(model: FakeModel) -> None:
    assert [m.id for m in _client(model).models.list()] == ["fake-model"]


def test_model_scripted_turns_non_streaming(model: FakeModel) -> None:
    client = _client(model)
    msgs: list[dict[str, str]] = [
        {"role": "system", "content": "You are a researcher."},
        {"role": "user", "content": QUESTION},
    ]
    first = client.chat.completions.create(model="m1", messages=msgs)  # type: ignore[arg-type]
    assert first.choices[0].message.content == SCRIPT[0]
    assert first.choices[0].finish_reason == "stop" and first.model == "m1"
    total_chars = len("You are a researcher.") + len(QUESTION)
    assert first.usage is not None
    assert first.usage.prompt_tokens == total_chars // 4
    assert first.usage.completion_tokens == len(SCRIPT[0]) // 4 + 1
    msgs += [{"role": "assistant", "content": SCRIPT[0]}, {"role": "user", "content": "obs"}]
    second = client.chat.completions.create(model="m1", messages=msgs)  # type: ignore[arg-type]
    assert second.choices[0].message.content == SCRIPT[1]
    msgs += [{"role": "assistant", "content": SCRIPT[1]}, {"role": "user", "content": "more"}]
    third = client.chat.completions.create(model="m1", messages=msgs)  # type: ignore[arg-type]
    assert third.choices[0].message.content == SCRIPT[1]  # past the end: last entry repeats
    assert [r.meta["turn"] for r in model.research_requests()] == [0, 1, 2]
    assert model.extraction_requests() == []


def test_model_streaming_with_usage(model: FakeModel) -> None:
    stream = _client(model).chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(pieces) == SCRIPT[0] and len(pieces) == 3
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(SCRIPT[0]) // 4 + 1


def test_model_streaming_raw_sse_without_usage(model: FakeModel) -> None:
    body = {"model": "x", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    r = httpx.post(
        f"{model.url}/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-test"}
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [e for e in r.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]" and len(events) == 5  # 3 pieces, stop chunk, DONE
    assert all(json.loads(e[6:])["choices"] for e in events[:-1])


def test_model_stop_sequence_truncates(model: FakeModel) -> None:
    resp = _client(model).chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": QUESTION}],
        stop=["<tool_call>", "never"],
    )
    assert resp.choices[0].message.content == "<think>first</think>\n"


def test_model_rejects_bad_key_and_unknown_question(model: FakeModel) -> None:
    bad = openai.OpenAI(base_url=f"{model.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.chat.completions.create(model="m", messages=[{"role": "user", "content": QUESTION}])
    assert err.value.status_code == 401
    assert err.value.body == {"message": "Invalid API key", "type": "invalid_request_error"}
    with pytest.raises(openai.BadRequestError, match="no script for question"):
        _client(model, max_retries=0).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "unscripted?"}]
        )
    assert [r.status for r in model.requests] == [401, 400]


def test_model_sdk_retries_through_fail_next(model: FakeModel) -> None:
    model.fail_next(1, status=503, retry_after=0.1)
    resp = _client(model, max_retries=2).chat.completions.create(
        model="m", messages=[{"role": "user", "content": QUESTION}]
    )
    assert resp.choices[0].message.content == SCRIPT[0]
    assert [r.status for r in model.requests] == [503, 200]
    assert model.requests[1].at - model.requests[0].at >= 0.1


def test_model_extraction_default_and_canned() -> None:
    page = "Alpha beta gamma. " * 30
    with FakeModel(extractions={"SECRET-TOKEN": {"rational": "r", "evidence": "e"}}) as fm:
        client = openai.OpenAI(base_url=f"{fm.url}/v1", api_key="unused")
        msgs = [{"role": "user", "content": _extraction_prompt(page, "find greek letters")}]
        out = client.chat.completions.create(model="m", messages=msgs)  # type: ignore[arg-type]
        answer = json.loads(out.choices[0].message.content or "")
        assert answer == {
            "rational": "scanned the page",
            "evidence": page[:300],
            "summary": "Page content relevant to: find greek letters",
        }
        msgs = [{"role": "user", "content": _extraction_prompt("x SECRET-TOKEN y", "g")}]
        out = client.chat.completions.create(model="m", messages=msgs)  # type: ignore[arg-type]
        assert json.loads(out.choices[0].message.content or "") == {
            "rational": "r",
            "evidence": "e",
        }
        recs = fm.extraction_requests()
        assert [r.meta["matched"] for r in recs] == [None, "SECRET-TOKEN"]
        assert recs[0].meta["goal"] == "find greek letters"
        assert fm.research_requests() == []


# -- serper --------------------------------------------------------------------------------


def test_serper_search_scholar_auth_and_overrides() -> None:
    with FakeSerper(results={"empty": []}, page_base="http://site.test") as fs:
        key = {"X-API-KEY": "test-serper-key"}
        body = {"q": "What is X?", "location": "US", "gl": "us", "hl": "en"}
        data = httpx.post(f"{fs.url}/search", json=body, headers=key).json()
        assert data["searchParameters"]["gl"] == "us"
        assert [o["position"] for o in data["organic"]] == [1, 2, 3]
        assert data["organic"][0] == {
            "title": "Result 1 for What is X?",
            "link": "http://site.test/page/what-is-x--1",
            "snippet": "Snippet 1 about What is X?.",
            "date": "Jan 1, 2025",
            "position": 1,
        }
        empty = httpx.post(f"{fs.url}/search", json={"q": "empty"}, headers=key).json()
        assert empty["organic"] == []
        sch = httpx.post(f"{fs.url}/scholar", json={"q": "llm"}, headers=key).json()["organic"]
        assert [(p["title"], p["citedBy"], p["year"]) for p in sch] == [
            ("Paper 1 on llm", 10, 2024),
            ("Paper 2 on llm", 20, 2024),
        ]
        assert sch[1]["pdfUrl"] == "http://site.test/pdf/llm-2.pdf"
        denied = httpx.post(f"{fs.url}/search", json={"q": "a"}, headers={"X-API-KEY": "bad"})
        assert (denied.status_code, denied.json()) == (403, {"message": "Unauthorized."})
        assert httpx.post(f"{fs.url}/search", json={}, headers=key).status_code == 400
        assert fs.queries() == ["What is X?", "empty"]
        assert fs.queries("/scholar") == ["llm"]


# -- jina ----------------------------------------------------------------------------------


def test_jina_website_pages() -> None:
    pages = {"/page/custom": "# Custom Title\n\nFirst para.\n\nSecond <para>."}
    with FakeJina(pages=pages) as fj:
        html = httpx.get(f"{fj.url}/page/custom").text
        assert "<title>Custom Title</title>" in html
        assert "<p>First para.</p><p>Second &lt;para&gt;.</p>" in html
        default = httpx.get(f"{fj.url}/page/topic-1")
        assert default.headers["content-type"].startswith("text/html")
        assert "<title>topic-1</title>" in default.text and default.text.count("<p>") == 3
        assert httpx.get(f"{fj.url}/missing/x").status_code == 404
        assert fj.direct_paths() == ["/page/custom", "/page/topic-1"]
        assert fj.read_targets() == []


def test_jina_default_page_is_extractable_by_trafilatura() -> None:
    trafilatura = pytest.importorskip("trafilatura")
    with FakeJina() as fj:
        text = trafilatura.extract(httpx.get(f"{fj.url}/page/some-topic-2").text)
    assert text is not None and len(text) >= 400 and "/page/some-topic-2" in text


def test_jina_reader() -> None:
    with FakeJina(pages={"/page/foo-1": "Foo **markdown** body."}) as fj:
        auth = {"Authorization": "Bearer test-jina-key"}
        target = "http://127.0.0.1:9/page/foo-1"
        r = httpx.get(f"{fj.url}/{target}", headers=auth)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert r.text == (
            f"Title: foo-1\n\nURL Source: {target}\n\nMarkdown Content:\nFoo **markdown** body."
        )
        other = httpx.get(f"{fj.url}/https://example.com/a/b?x=1", headers=auth)
        assert "Title: b" in other.text and "This page at /a/b" in other.text
        missing = httpx.get(f"{fj.url}/https://example.com/missing/z", headers=auth)
        assert (missing.status_code, missing.json()["code"]) == (422, 422)
        unauth = httpx.get(f"{fj.url}/{target}")
        assert (unauth.status_code, unauth.json()) == (
            401,
            {"code": 401, "message": "Invalid API key"},
        )
        assert fj.read_targets() == [target, "https://example.com/a/b?x=1"]
        assert fj.direct_paths() == []
    with FakeJina(api_key=None) as open_reader:
        assert httpx.get(f"{open_reader.url}/https://example.com/page/q").status_code == 200
