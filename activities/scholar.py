"""Google Scholar through Serper, one query per activity, in the reference's format."""

from __future__ import annotations

from typing import Any

from activities.context import ToolContext, current
from activities.outcome import observe
from activities.search import serper_post
from graphs import prompts


def format_scholar(query: str, body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("organic"), list):
        return prompts.SCHOLAR_NO_RESULTS.format(query=query)
    entries = []
    for idx, page in enumerate(body["organic"], start=1):
        year = "\nDate published: " + str(page["year"]) if "year" in page else ""
        info = "\npublicationInfo: " + page["publicationInfo"] if "publicationInfo" in page else ""
        snippet = "\n" + page["snippet"] if "snippet" in page else ""
        link = "pdfUrl: " + page["pdfUrl"] if "pdfUrl" in page else prompts.SCHOLAR_NO_LINK
        cited = "\ncitedBy: " + str(page["citedBy"]) if "citedBy" in page else ""
        entry = f"{idx}. [{page.get('title', '')}]({link}){info}{year}{cited}\n{snippet}"
        entries.append(entry.replace(prompts.VIDEO_PLACEHOLDER, ""))
    header = prompts.SCHOLAR_RESULTS_HEADER.format(query=query, count=len(entries))
    return header + "\n\n".join(entries)


async def scholar_search(ctx: ToolContext, query: str) -> str:
    return format_scholar(query, await serper_post(ctx, "/scholar", {"q": query}))


async def scholar(task: dict[str, Any]) -> dict[str, Any]:
    """Graph node: one query of a `google_scholar` call."""
    query = task["query"]
    work = scholar_search(current(), query)
    label = f"google_scholar {query!r}"
    return await observe(task, work, fallback=prompts.SCHOLAR_TIMEOUT, label=label)
