"""The research cache against the loopback fakes: what a second search or read sends (nothing,
within the TTL), that its observation is byte for byte the live one, TTL expiry, `--no-cache`,
tenant scopes, a retried read keeping its own page, failures as misses, the named entries of
both blob store backends (S3 through moto's server), the TTL setting and the gc sweep."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.blobstore import LocalBlobStore
from activities.blobstore_object import ObjectBlobStore
from activities.cache import CacheTtl, ResearchCache, entry_name
from activities.context import ToolContext
from activities.errors import ConfigurationError
from activities.netguard import is_public
from activities.read import read
from activities.scholar import scholar
from activities.search import search
from tests.fakes import FakeJina, FakeModel, FakeSerper
from tests.scale.servers import S3Server, running_s3
from workers.config import load_settings, parse_ttl

GOAL = "find the key facts"
HOUR = 3600.0


class Clock:
    """The cache's clock, moved by the test (no sleeping, no timing)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cached(tools: ToolContext, clock: Clock) -> ToolContext:
    """The context with a cache: search results 1 h, pages 6 h, public results shared."""
    cache = ResearchCache(tools.blobs, ttl=CacheTtl(search=HOUR, pages=6 * HOUR), clock=clock)
    return replace(tools, cache=cache)


def _search(query: str, tenant: str = "a", read: bool = True) -> dict[str, Any]:
    return {"call_id": "c1", "index": 0, "tool": "search", "query": query,
            "cache": {"tenant": tenant, "read": read}}  # fmt: skip


def _visit(url: str, tenant: str = "a", goal: str = GOAL, read: bool = True) -> dict[str, Any]:
    return {"call_id": "c2", "index": 0, "tool": "read", "url": url, "goal": goal,
            "cache": {"tenant": tenant, "read": read}}  # fmt: skip


# -- search ----------------------------------------------------------------------------------


async def test_a_second_search_sends_nothing_and_reads_as_the_first(
    cached: ToolContext, serper: FakeSerper, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(cached)
    first = (await search(_search("turing award 2024")))["observations"][0]
    assert len(serper.queries()) == 1 and "cached" not in first
    second = (await search(_search("turing award 2024")))["observations"][0]
    assert len(serper.queries()) == 1  # the provider heard nothing more
    assert second["text"] == first["text"]
    assert second["cached"] == ["results"] and second["cached_age_s"] == 0.0
    # The same results whatever the case and spacing, each formatted with the query as asked.
    variant = (await search(_search("  Turing   AWARD 2024 ")))["observations"][0]
    assert len(serper.queries()) == 1
    asked = first["text"].replace("'turing award 2024'", "'  Turing   AWARD 2024 '")
    assert variant["text"] == asked != first["text"] and variant["cached"] == ["results"]


async def test_search_past_its_ttl_and_no_cache_fetch_again(
    cached: ToolContext,
    serper: FakeSerper,
    clock: Clock,
    install: Callable[[ToolContext], ToolContext],
) -> None:
    install(cached)
    await search(_search("cold fusion"))
    clock.now += HOUR - 1
    aged = (await search(_search("cold fusion")))["observations"][0]
    assert len(serper.queries()) == 1 and aged["cached_age_s"] == HOUR - 1
    clock.now += 2
    assert "cached" not in (await search(_search("cold fusion")))["observations"][0]
    assert len(serper.queries()) == 2  # expired: fetched, and the entry refreshed
    assert "cached" not in (await search(_search("cold fusion", read=False)))["observations"][0]
    assert len(serper.queries()) == 3  # --no-cache fetches ...
    again = (await search(_search("cold fusion")))["observations"][0]
    assert len(serper.queries()) == 3 and again["cached_age_s"] == 0.0  # ... and refreshes


async def test_search_results_are_shared_only_when_the_deployment_says(
    cached: ToolContext, serper: FakeSerper, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(cached)
    await search(_search("graphene", tenant="a"))
    assert (await search(_search("graphene", tenant="b")))["observations"][0]["cached"]
    assert len(serper.queries()) == 1
    assert cached.cache is not None
    install(replace(cached, cache=replace(cached.cache, shared=False)))
    await search(_search("perovskite", tenant="a"))
    assert "cached" not in (await search(_search("perovskite", tenant="b")))["observations"][0]
    assert len(serper.queries()) == 3


async def test_off_by_default_for_search_and_absent_for_old_tasks(
    tools: ToolContext, serper: FakeSerper, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(replace(tools, cache=ResearchCache(tools.blobs)))  # the default TTLs
    for _ in range(2):
        await search(_search("fusion"))
    assert len(serper.queries()) == 2
    assert list(tools.blobs.entries("cache/")) == []
    install(replace(tools, cache=ResearchCache(tools.blobs, ttl=CacheTtl(search=HOUR))))
    task = _search("fission")
    del task["cache"]  # a task of a session recorded before the cache
    for _ in range(2):
        await search(task)
    assert len(serper.queries()) == 4


async def test_scholar_is_cached_apart_from_search(
    cached: ToolContext, serper: FakeSerper, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(cached)
    task = {**_search("attention is all you need"), "tool": "scholar"}
    first = (await scholar(task))["observations"][0]
    second = (await scholar(task))["observations"][0]
    assert second["text"] == first["text"] and second["cached"] == ["results"]
    assert len(serper.queries("/scholar")) == 1
    await search(_search("attention is all you need"))
    assert len(serper.queries("/search")) == 1  # a web search is not a scholar search


# -- pages -----------------------------------------------------------------------------------


async def test_a_second_read_sends_nothing_and_reads_as_the_first(
    cached: ToolContext,
    jina: FakeJina,
    model: FakeModel,
    install: Callable[[ToolContext], ToolContext],
) -> None:
    install(cached)
    url = f"{jina.url}/page/quantum-dots"
    first = await read(_visit(url))
    assert len(jina.read_targets()) == 1 and len(model.extraction_requests()) == 1
    second = await read(_visit(url))
    assert len(jina.read_targets()) == 1 and len(model.extraction_requests()) == 1
    obs1, obs2 = first["observations"][0], second["observations"][0]
    assert obs2["text"] == obs1["text"] and obs2["blob"] == obs1["blob"]
    assert obs2["cached"] == ["page", "extraction"] and "cached" not in obs1
    assert second["ledger"] == first["ledger"] and second["sources"] == [url]
    # Another goal: the page from the cache, a new extraction.
    other = (await read(_visit(url, goal="who wrote it")))["observations"][0]
    assert other["cached"] == ["page"] and len(jina.read_targets()) == 1
    assert len(model.extraction_requests()) == 2


async def test_pages_past_their_ttl_and_no_cache_read_again(
    cached: ToolContext,
    jina: FakeJina,
    model: FakeModel,
    clock: Clock,
    install: Callable[[ToolContext], ToolContext],
) -> None:
    install(cached)
    url = f"{jina.url}/page/ttl"
    await read(_visit(url))
    clock.now += 6 * HOUR + 1
    assert "cached" not in (await read(_visit(url)))["observations"][0]
    assert len(jina.read_targets()) == 2 and len(model.extraction_requests()) == 2
    assert "cached" not in (await read(_visit(url, read=False)))["observations"][0]
    assert len(jina.read_targets()) == 3 and len(model.extraction_requests()) == 3


async def test_unreadable_pages_and_failed_extractions_are_not_kept(
    cached: ToolContext,
    jina: FakeJina,
    model: FakeModel,
    install: Callable[[ToolContext], ToolContext],
) -> None:
    install(cached)
    missing = f"{jina.url}/missing/gone"
    await read(_visit(missing))
    asked = len(jina.records())  # the reader's 422, then the direct 404
    await read(_visit(missing))
    assert len(jina.records()) == 2 * asked
    url = f"{jina.url}/page/unsure"
    model.fail_next(20, 400)  # the extractor refuses: the reference's failure text
    failed = (await read(_visit(url)))["observations"][0]
    model.clear_faults()
    assert "could not be accessed" in failed["text"]
    kept = (await read(_visit(url)))["observations"][0]
    assert kept["cached"] == ["page"] and "could not be accessed" not in kept["text"]


async def test_private_pages_stay_with_their_tenant_public_ones_are_shared(
    cached: ToolContext,
    jina: FakeJina,
    model: FakeModel,
    install: Callable[[ToolContext], ToolContext],
) -> None:
    install(cached)
    private = f"{jina.url}/page/intranet"  # a loopback host: never another tenant's
    await read(_visit(private, tenant="a"))
    assert "cached" not in (await read(_visit(private, tenant="b")))["observations"][0]
    assert (await read(_visit(private, tenant="a")))["observations"][0]["cached"]
    assert jina.read_targets() == [private, private]
    public = "http://93.184.216.34/page/public"  # a global address (read through the reader)
    await read(_visit(public, tenant="a"))
    shared = (await read(_visit(public, tenant="b")))["observations"][0]
    assert shared["cached"] == ["page", "extraction"] and jina.read_targets()[2:] == [public]


async def test_is_public() -> None:
    assert await is_public("http://93.184.216.34/x")
    for url in ("http://127.0.0.1/x", "http://10.1.2.3/", "http://[::1]/", "ftp://8.8.8.8/",
                "http://no-such-host.invalid/", "not a url"):  # fmt: skip
        assert not await is_public(url), url


async def test_a_retried_read_keeps_the_page_its_earlier_attempt_read(
    cached: ToolContext,
    jina: FakeJina,
    model: FakeModel,
    install: Callable[[ToolContext], ToolContext],
) -> None:
    """The cache refreshed between two attempts (another session read the page since) does
    not change what the retried attempt extracts: the page its first attempt read."""
    install(cached)
    url = f"{jina.url}/page/changing"
    jina.pages["/page/changing"] = "The first version of the page, long enough to extract."
    assert cached.cache is not None
    earlier = cached.blobs.put(b"the page as the first attempt read it")
    await read(_visit(url))  # tenant a's cache now holds the first version
    env = ActivityEnvironment()
    env.info = replace(env.info, attempt=2, heartbeat_details=[earlier])
    result = await env.run(read, _visit(url))
    observation = result["observations"][0]
    assert observation["blob"] == earlier and "page" not in observation.get("cached", [])
    extracted = model.extraction_requests()[-1].meta["webpage"]
    assert extracted == "the page as the first attempt read it"


async def test_a_broken_or_torn_cache_is_a_miss(
    tools: ToolContext,
    serper: FakeSerper,
    clock: Clock,
    tmp_path: Path,
    install: Callable[[ToolContext], ToolContext],
) -> None:
    (tmp_path / "file").write_text("not a directory")
    broken = ResearchCache(LocalBlobStore(tmp_path / "file" / "blobs"), CacheTtl(search=HOUR))
    install(replace(tools, cache=broken))
    for _ in range(2):
        text = (await search(_search("resilience")))["observations"][0]["text"]
        assert text.startswith("A Google search for 'resilience' found")
    assert len(serper.queries()) == 2
    cache = ResearchCache(tools.blobs, CacheTtl(search=HOUR), clock=clock)
    install(replace(tools, cache=cache))
    await search(_search("torn"))
    (entry,) = tools.blobs.entries("cache/search/")
    tools.blobs.put_entry(entry.name, b'{"v": 1, "kind": "sea')
    assert "cached" not in (await search(_search("torn")))["observations"][0]
    assert (await search(_search("torn")))["observations"][0]["cached"]  # rewritten whole
    assert len(serper.queries()) == 4


# -- the store's named entries, the sweep, the setting ----------------------------------------


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """This module's own (a server alive past it would be a straggler to the sandbox tests)."""
    with running_s3(tmp_path_factory) as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> LocalBlobStore | ObjectBlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server: S3Server = request.getfixturevalue("s3")
    bucket = server.create_bucket()
    return ObjectBlobStore(
        f"s3://{bucket}/team", allow_http=True, endpoint=server.url, region="us-east-1"
    )


async def test_named_entries(store: LocalBlobStore | ObjectBlobStore) -> None:
    name = entry_name("page", "tenant/a", {"url": "https://x.example/"})
    with pytest.raises(KeyError):
        await store.get_entry_async(name)
    await store.put_entry_async(name, b"one")
    await store.put_entry_async(name, b"two")  # replaced whole
    assert await store.get_entry_async(name) == b"two" and store.get_entry(name) == b"two"
    digest = store.put(b"a blob")
    assert [e.name for e in store.entries("cache/")] == [name]
    assert [b.digest for b in store.scan()] == [digest]  # entries are not blobs
    assert store.delete_entry(name) and not store.delete_entry(name)
    assert list(store.entries("cache/")) == []
    for bad in ("sha256/ab/cd", "uploads/x/1", "cache/../sha256/x", "Cache/x", "cache", "/etc/x"):
        with pytest.raises(ValueError, match="not an entry name"):
            store.get_entry(bad)


async def test_sweep_deletes_expired_entries_and_names_the_blobs_of_fresh_ones(
    store: LocalBlobStore | ObjectBlobStore, clock: Clock
) -> None:
    from activities.cache import CacheUse

    cache = ResearchCache(store, CacheTtl(search=HOUR, pages=6 * HOUR), clock=clock)
    use = CacheUse("a")
    await cache.keep(use, "search", {"q": "old"}, b'{"organic": []}', public=True)
    clock.now += 2 * HOUR
    await cache.keep(use, "page", {"url": "u"}, b"page text", public=False)
    dry = cache.sweep(dry_run=True)
    assert (dry.entries, dry.expired) == (2, 1) and len(list(store.entries("cache/"))) == 2
    swept = cache.sweep()
    assert (swept.entries, swept.expired) == (2, 1)
    assert swept.live_digests == {store.put(b"page text")}
    assert [e.name.split("/")[1] for e in store.entries("cache/")] == ["page"]
    off = ResearchCache(store, parse_ttl("off"), clock=clock).sweep()
    assert off.expired == 1 and list(store.entries("cache/")) == []


def test_ttl_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_ttl("") == CacheTtl(search=0, pages=6 * HOUR)
    assert parse_ttl("search=10m") == CacheTtl(search=600, pages=6 * HOUR)
    assert parse_ttl("search=1h, pages=off") == CacheTtl(search=HOUR, pages=0)
    assert parse_ttl("2d") == CacheTtl(search=2 * 86400, pages=2 * 86400)
    assert parse_ttl("off") == CacheTtl(0, 0)
    assert parse_ttl("off").describe() == "search=off,pages=off"
    assert CacheTtl().describe() == "search=off,pages=6h"
    monkeypatch.setenv("DEEPRESEARCH_CACHE_TTL", "search=5m,pages=1d")
    assert load_settings().cache_ttls == CacheTtl(search=300, pages=86400)
    for bad, why in (("pages=-1h", "not a TTL"), ("pages=60d", "at most 30d"),
                     ("serch=1h", "unknown part 'serch'"), ("soon", "not a TTL")):  # fmt: skip
        monkeypatch.setenv("DEEPRESEARCH_CACHE_TTL", bad)
        with pytest.raises(ConfigurationError) as caught:
            load_settings()
        message = str(caught.value)
        assert message.startswith("invalid setting DEEPRESEARCH_CACHE_TTL: ") and why in message
        assert "\n" not in message
