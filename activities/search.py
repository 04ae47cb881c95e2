"""Web search through Serper, one query per activity, formatted as the reference formats it."""

from __future__ import annotations

from typing import Any

import httpx

from activities.context import ToolContext, current
from activities.errors import ToolError, from_transport, raise_for_http
from activities.outcome import observe
from graphs import prompts


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


def serper_payload(query: str) -> dict[str, str]:
    """The reference picks Chinese or US results by whether the query contains CJK characters."""
    base = prompts.SERPER_PAYLOAD_ZH if _has_cjk(query) else prompts.SERPER_PAYLOAD_EN
    return {"q": query, **base}


def format_results(query: str, body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("organic"), list):
        return prompts.SEARCH_NO_RESULTS.format(query=query)
    snippets = []
    for idx, page in enumerate(body["organic"], start=1):
        date = "\nDate published: " + page["date"] if "date" in page else ""
        source = "\nSource: " + page["source"] if "source" in page else ""
        snippet = "\n" + page["snippet"] if "snippet" in page else ""
        entry = f"{idx}. [{page.get('title', '')}]({page.get('link', '')}){date}{source}\n{snippet}"
        snippets.append(entry.replace(prompts.VIDEO_PLACEHOLDER, ""))
    header = prompts.SEARCH_RESULTS_HEADER.format(query=query, count=len(snippets))
    return header + "\n\n".join(snippets)


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


async def search(task: dict[str, Any]) -> dict[str, Any]:
    """Graph node: one query of a `search` call."""
    query = task["query"]
    work = serper_search(current(), query)
    return await observe(task, work, fallback=prompts.SEARCH_TIMEOUT, label=f"search {query!r}")
