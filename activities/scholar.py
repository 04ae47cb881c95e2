"""Google Scholar through Serper, one query per activity, in the reference's format."""

from __future__ import annotations

from typing import Any

from activities.cache import CacheUse, Served, normalize_query
from activities.context import ToolContext, current
from activities.outcome import observe
from activities.search import organic_only, serper_post
from graphs import prompts


def format_scholar(query: str, body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("organic"), list):
        return prompts.SCHOLAR_NO_RESULTS.format(query=query)
    entries = []
    for idx, page in enumerate(body["organic"], start=1):
        year = prompts.SCHOLAR_DATE_PUBLISHED.format(year=page["year"]) if "year" in page else ""
        info = (
            prompts.SCHOLAR_PUBLICATION_INFO.format(publication_info=page["publicationInfo"])
            if "publicationInfo" in page
            else ""
        )
        snippet = (
            prompts.RESULT_SNIPPET.format(snippet=page["snippet"]) if "snippet" in page else ""
        )
        link = (
            prompts.SCHOLAR_PDF_LINK.format(pdf_url=page["pdfUrl"])
            if "pdfUrl" in page
            else prompts.SCHOLAR_NO_LINK
        )
        cited = (
            prompts.SCHOLAR_CITED_BY.format(cited_by=page["citedBy"]) if "citedBy" in page else ""
        )
        entry = prompts.SCHOLAR_RESULT_ITEM.format(
            idx=idx,
            title=page.get("title", ""),
            link_info=link,
            publication_info=info,
            date_published=year,
            cited_by=cited,
            snippet=snippet,
        )
        entries.append(entry.replace(prompts.VIDEO_PLACEHOLDER, ""))
    header = prompts.SCHOLAR_RESULTS_HEADER.format(query=query, count=len(entries))
    return header + prompts.RESULTS_JOINER.join(entries)


async def scholar_search(ctx: ToolContext, query: str) -> str:
    return format_scholar(query, await serper_post(ctx, "/scholar", {"q": query}))


async def cached_scholar(ctx: ToolContext, query: str, use: CacheUse | None, served: Served) -> str:
    """`scholar_search` through the research cache (see `search.cached_search`)."""
    cache = ctx.cache
    if cache is None or use is None or not cache.on("scholar"):
        return await scholar_search(ctx, query)
    key = {"backend": "serper", "query": normalize_query(query), "options": {"url": ctx.serper_url}}

    async def fetch() -> Any:
        return organic_only(await serper_post(ctx, "/scholar", {"q": query}))

    return await cache.results(
        use, "scholar", key, served, fetch, lambda body: format_scholar(query, body)
    )


async def scholar(task: dict[str, Any]) -> dict[str, Any]:
    """Graph node: one query of a `google_scholar` call (marked when served from the cache)."""
    query = task["query"]
    served = Served()
    work = cached_scholar(current(), query, CacheUse.of(task), served)
    label = f"google_scholar {query!r}"
    update = await observe(task, work, fallback=prompts.SCHOLAR_TIMEOUT, label=label)
    served.mark(update["observations"][0])
    return update
