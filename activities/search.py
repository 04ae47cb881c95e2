"""Web search (Serper, SearXNG, ddgs or the local corpus), formatted as the reference formats it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from ddgs import DDGS
from ddgs.exceptions import DDGSException
from temporalio.exceptions import ApplicationError

from activities.cache import CacheUse, Served, normalize_query
from activities.context import ToolContext, current
from activities.corpus import search_index
from activities.errors import ToolError, from_transport, raise_for_http, status_error
from activities.outcome import observe
from graphs import prompts

BACKENDS = ("serper", "searxng", "ddgs", "local")
MAX_RESULTS = 10  # Serper's default page size: every backend shows the model as many results
DDGS_TIMEOUT_SECONDS = 10
DDGS_NO_RESULTS = "No results found."  # ddgs raises this (not an empty list) when nothing matched

# (query, region, max_results) -> ddgs result dicts (title, href, body); injectable for tests
DdgsText = Callable[[str, str, int], list[dict[str, Any]]]


def _has_cjk(text: str) -> bool:
    low, high = prompts.CJK_RANGE
    return any(low <= char <= high for char in text)


def serper_payload(query: str) -> dict[str, str]:
    """The reference picks Chinese or US results by whether the query contains CJK characters."""
    base = prompts.SERPER_PAYLOAD_ZH if _has_cjk(query) else prompts.SERPER_PAYLOAD_EN
    return {"q": query, **base}


def format_results(query: str, body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("organic"), list):
        return prompts.SEARCH_NO_RESULTS.format(query=query)
    snippets = []
    for idx, page in enumerate(body["organic"], start=1):
        date = prompts.SEARCH_DATE_PUBLISHED.format(date=page["date"]) if "date" in page else ""
        source = prompts.SEARCH_SOURCE.format(source=page["source"]) if "source" in page else ""
        snippet = (
            prompts.RESULT_SNIPPET.format(snippet=page["snippet"]) if "snippet" in page else ""
        )
        entry = prompts.SEARCH_RESULT_ITEM.format(
            idx=idx,
            title=page.get("title", ""),
            link=page.get("link", ""),
            date_published=date,
            source=source,
            snippet=snippet,
        )
        snippets.append(entry.replace(prompts.VIDEO_PLACEHOLDER, ""))
    header = prompts.SEARCH_RESULTS_HEADER.format(query=query, count=len(snippets))
    return header + prompts.RESULTS_JOINER.join(snippets)


# -- choosing a backend ----------------------------------------------------------------------


def choose_backend(ctx: ToolContext) -> str:
    """The configured backend, or the best one the settings allow: Serper (the reference's) with
    a key, else a self-hosted SearXNG with a URL, else key-free ddgs."""
    name = ctx.search_backend.strip().lower()
    if name:
        if name not in BACKENDS:
            choices = ", ".join(BACKENDS)
            raise ToolError(
                f"unknown search backend {ctx.search_backend!r}: choose one of {choices} "
                "(or leave it empty to choose automatically)",
                backend=ctx.search_backend,
            )
        return name
    if ctx.serper_key:
        return "serper"
    if ctx.searxng_url:
        return "searxng"
    return "ddgs"


async def web_search(ctx: ToolContext, query: str) -> str:
    """One query through the chosen backend; every backend answers in the reference's format."""
    backend = choose_backend(ctx)
    if backend == "local":
        return await local_search(ctx, query)
    return format_results(query, await web_body(ctx, backend, query))


async def web_body(ctx: ToolContext, backend: str, query: str) -> dict[str, Any] | None:
    """A web backend's results in Serper's shape (None: a malformed answer), before they are
    formatted: what the research cache keeps."""
    if backend == "serper":
        return organic_only(await serper_post(ctx, "/search", serper_payload(query)))
    if backend == "searxng":
        return await searxng_body(ctx, query)
    return await ddgs_body(query)


def organic_only(body: Any) -> dict[str, Any] | None:
    """The part of a Serper answer that `format_results` reads (the rest is not kept)."""
    if not isinstance(body, dict) or not isinstance(body.get("organic"), list):
        return None
    return {"organic": body["organic"]}


def search_key(ctx: ToolContext, backend: str, query: str) -> dict[str, Any]:
    """What a search's results depend on: the backend and where it is, the normalized query
    and the options the backend is sent (the reference's CJK rule picks them)."""
    options: dict[str, Any]
    if backend == "serper":
        options = {"url": ctx.serper_url, **serper_options(query)}
    elif backend == "searxng":
        options = {"url": ctx.searxng_url, "language": searxng_params(query)["language"]}
    else:
        options = {"region": ddgs_region(query), "max_results": MAX_RESULTS}
    return {"backend": backend, "query": normalize_query(query), "options": options}


def serper_options(query: str) -> dict[str, str]:
    return {k: v for k, v in serper_payload(query).items() if k != "q"}


async def cached_search(ctx: ToolContext, query: str, use: CacheUse | None, served: Served) -> str:
    """`web_search` through the research cache: public web results (shared between tenants
    when the deployment says so) come from it while fresh; what is fetched refreshes it. The
    text is formatted from the results either way, so a cached observation is byte for byte
    the live one. The local corpus is not cached (no provider to spare)."""
    backend = choose_backend(ctx)
    cache = ctx.cache
    if backend == "local" or cache is None or use is None or not cache.on("search"):
        return await web_search(ctx, query)
    return await cache.results(
        use,
        "search",
        search_key(ctx, backend, query),
        served,
        lambda: web_body(ctx, backend, query),
        lambda body: format_results(query, body),
    )


# -- Serper ----------------------------------------------------------------------------------


async def serper_post(ctx: ToolContext, path: str, payload: dict[str, str]) -> Any:
    """POST to Serper; raises classified ApplicationErrors; a non-JSON body reads as None."""
    if not ctx.serper_key:
        raise ToolError("no search backend configured: set SERPER_API_KEY")
    try:
        response = await ctx.http.post(
            f"{ctx.serper_url.rstrip('/')}{path}",
            json=payload,
            headers={"X-API-KEY": ctx.serper_key},
        )
    except httpx.HTTPError as error:
        raise from_transport("Serper", error) from error
    raise_for_http("Serper", response)
    try:
        return response.json()
    except ValueError:
        return None


async def serper_search(ctx: ToolContext, query: str) -> str:
    return format_results(query, await serper_post(ctx, "/search", serper_payload(query)))


# -- SearXNG ---------------------------------------------------------------------------------


def searxng_params(query: str) -> dict[str, str]:
    """The reference's CJK rule, in SearXNG's terms."""
    return {"q": query, "format": "json", "language": "zh-CN" if _has_cjk(query) else "en-US"}


def _serper_date(value: Any) -> str | None:
    """SearXNG's ISO publishedDate in Serper's style ("Mar 3, 2024"); other text as it is."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return value.strip()
    return f"{moment:%b} {moment.day}, {moment.year}"


def searxng_organic(body: Any) -> dict[str, Any] | None:
    """SearXNG's JSON in Serper's shape; None (the reference's "no results") when malformed."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        return None
    organic = []
    for result in body["results"]:
        if not isinstance(result, dict) or not result.get("url"):
            continue
        entry: dict[str, Any] = {"title": str(result.get("title") or ""), "link": result["url"]}
        date = _serper_date(result.get("publishedDate"))
        if date:
            entry["date"] = date
        if result.get("content"):
            entry["snippet"] = str(result["content"])
        organic.append(entry)
        if len(organic) == MAX_RESULTS:
            break
    return {"organic": organic}


async def searxng_search(ctx: ToolContext, query: str) -> str:
    return format_results(query, await searxng_body(ctx, query))


async def searxng_body(ctx: ToolContext, query: str) -> dict[str, Any] | None:
    """GET {url}/search?format=json. An empty answer whose engines all failed is retried, since
    SearXNG reports upstream blocks and timeouts that way rather than with a status."""
    if not ctx.searxng_url:
        raise ToolError("search backend searxng needs a SearXNG URL; none is configured")
    try:
        response = await ctx.http.get(
            f"{ctx.searxng_url.rstrip('/')}/search", params=searxng_params(query)
        )
    except httpx.HTTPError as error:
        raise from_transport("SearXNG", error) from error
    if response.status_code == 403:
        detail = "JSON output is disabled: add `json` to search.formats in its settings.yml"
        raise status_error("SearXNG", 403, response.headers, detail)
    raise_for_http("SearXNG", response)
    try:
        body = response.json()
    except ValueError:
        body = None
    mapped = searxng_organic(body)
    if mapped is not None and not mapped["organic"] and body.get("unresponsive_engines"):
        engines = ", ".join(
            str(e[0] if isinstance(e, list) and e else e) for e in body["unresponsive_engines"]
        )
        raise ApplicationError(
            f"SearXNG: no results and unresponsive engines ({engines})",
            type="SearxngUnresponsive",
        )
    return mapped


# -- ddgs ------------------------------------------------------------------------------------


def ddgs_region(query: str) -> str:
    return "cn-zh" if _has_cjk(query) else "us-en"


def ddgs_organic(results: list[dict[str, Any]]) -> dict[str, Any]:
    """ddgs text results (title, href, body) in Serper's shape."""
    organic = []
    for result in results:
        if not isinstance(result, dict) or not result.get("href"):
            continue
        entry: dict[str, Any] = {"title": str(result.get("title") or ""), "link": result["href"]}
        if result.get("body"):
            entry["snippet"] = str(result["body"])
        organic.append(entry)
    return {"organic": organic[:MAX_RESULTS]}


def ddgs_error(error: Exception) -> ApplicationError:
    """Rate limits, timeouts and failing upstream engines retry (ddgs raises its own exception
    types for all three, network errors included); anything else is a bug and does not."""
    kind = type(error).__name__
    retryable = isinstance(error, DDGSException)  # RatelimitException, TimeoutException too
    return ApplicationError(f"ddgs: {kind}: {error}", type=kind, non_retryable=not retryable)


def _ddgs_text(query: str, region: str, max_results: int) -> list[dict[str, Any]]:
    return DDGS(timeout=DDGS_TIMEOUT_SECONDS).text(query, region=region, max_results=max_results)


async def ddgs_search(query: str, text: DdgsText | None = None) -> str:
    """Key-free metasearch through the `ddgs` package (blocking, so in a thread); `text` stands
    in for its text search in tests."""
    return format_results(query, await ddgs_body(query, text))


async def ddgs_body(query: str, text: DdgsText | None = None) -> dict[str, Any]:
    if not query.strip():
        raise ToolError("empty search query")
    search_text = text or _ddgs_text
    try:
        results = await asyncio.to_thread(search_text, query, ddgs_region(query), MAX_RESULTS)
    except Exception as error:
        if type(error) is DDGSException and str(error) == DDGS_NO_RESULTS:
            return {"organic": []}  # what Serper answers for no match
        raise ddgs_error(error) from error
    return ddgs_organic(results)


# -- local corpus ----------------------------------------------------------------------------


async def local_search(ctx: ToolContext, query: str) -> str:
    """The tantivy index of a local folder; results link to `doc:` ids that `visit` reads."""
    if not ctx.index_dir:
        raise ToolError("search backend local needs an index: build one with `deepresearch index`")
    organic = await asyncio.to_thread(search_index, ctx.index_dir, query, MAX_RESULTS)
    return format_results(query, {"organic": organic})


async def search(task: dict[str, Any]) -> dict[str, Any]:
    """Graph node: one query of a `search` call (marked when its results came from the cache)."""
    query = task["query"]
    served = Served()
    work = cached_search(current(), query, CacheUse.of(task), served)
    label = f"search {query!r}"
    update = await observe(task, work, fallback=prompts.SEARCH_TIMEOUT, label=label)
    served.mark(update["observations"][0])
    return update
