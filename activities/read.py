"""Page reading (the reference's `visit`), two durable steps per URL: fetch the page into the blob
store (Jina Reader, or a direct fetch + trafilatura), then goal-directed extraction by the model."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urljoin

import httpx
from temporalio.exceptions import ApplicationError

from activities.context import ToolContext, current
from activities.corpus import DOC_PREFIX, read_document
from activities.errors import ToolError, from_transport, raise_for_http, status_error
from activities.files import parse_bytes
from activities.heartbeat import heartbeating
from activities.html_text import html_to_text
from activities.llm import chat
from activities.netguard import check_url, check_url_shape, pinned
from activities.outcome import tool_outcome
from graphs import prompts
from graphs.react import truncate_tokens
from graphs.state import Sampling

PAGE_TOKEN_LIMIT = 95_000  # the reference truncates pages to 95K tokens before extraction
FINAL_TRUNCATION = 25_000  # ... and, after three 70% shrinks, to 25K characters
MAX_REDIRECTS = 5
LEDGER_EXCERPT = 3000  # characters of a read page's evidence kept for the report writer


def visit_failure(url: str, goal: str) -> str:
    return prompts.VISIT_RESULT.format(
        url=url,
        goal=goal,
        evidence=prompts.VISIT_FAILED_EVIDENCE,
        summary=prompts.VISIT_FAILED_SUMMARY,
    )


async def _jina(ctx: ToolContext, url: str) -> str:
    headers = {"Authorization": f"Bearer {ctx.jina_key}"} if ctx.jina_key else {}
    try:
        response = await ctx.http.get(f"{ctx.jina_url.rstrip('/')}/{url}", headers=headers)
    except httpx.HTTPError as error:
        raise from_transport("Jina Reader", error) from error
    raise_for_http("Jina Reader", response)
    return response.text


async def _direct(ctx: ToolContext, url: str) -> str:
    """GET with every redirect hop re-checked by netguard and the body size capped."""
    for _ in range(MAX_REDIRECTS + 1):
        address = await check_url(url, allow_loopback=ctx.allow_loopback)
        target, headers, extensions = pinned(url, address)
        try:
            async with ctx.http.stream(
                "GET", target, headers=headers, extensions=extensions, follow_redirects=False
            ) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if not response.is_success:
                    await response.aread()
                    raise status_error(
                        "page", response.status_code, response.headers, response.text
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > ctx.page_max_bytes:
                        raise ToolError(f"page larger than {ctx.page_max_bytes} bytes", url=url)
                is_pdf = "pdf" in response.headers.get("content-type", "")
                encoding = response.encoding or "utf-8"
        except httpx.HTTPError as error:
            raise from_transport("page", error) from error
        if is_pdf or body.startswith(b"%PDF"):
            return await asyncio.to_thread(parse_bytes, "page.pdf", bytes(body))
        html = body.decode(encoding, errors="replace")
        return await asyncio.to_thread(html_to_text, html, url)
    raise ToolError(f"more than {MAX_REDIRECTS} redirects", url=url)


async def read_page(ctx: ToolContext, url: str) -> str:
    """Jina Reader fetches remotely (only the URL's shape is ours to check); a direct fetch is
    guarded hop by hop. A `doc:` id from the local search backend is read from the index, not
    the network, so netguard has nothing to check."""
    if url.startswith(DOC_PREFIX):
        if not ctx.index_dir:
            raise ToolError(f"cannot read {url!r}: no local index is configured", url=url)
        return await asyncio.to_thread(read_document, ctx.index_dir, url)
    if ctx.jina_key or ctx.jina_keyless:
        check_url_shape(url)
        try:
            return await _jina(ctx, url)
        except ApplicationError as error:
            if not error.non_retryable or error.type in ("HTTP401", "HTTP402"):
                raise  # retry Jina itself; a bad key or quota is the operator's to fix
            # Jina refused this page (blocked, 403, 422): read it ourselves instead.
    return await _direct(ctx, url)


async def fetch(task: dict[str, Any]) -> dict[str, Any]:
    """Graph node: read one URL of a `visit` call into the blob store; the page's digest goes on
    to `extract`, a failure becomes the reference's failure text."""
    ctx = current()
    url, goal = task["url"], task["goal"]
    sentinel = prompts.VISIT_READ_FAILED
    content = await tool_outcome(
        heartbeating(read_page(ctx, url)), fallback=sentinel, label="visit"
    )
    failed = content.startswith("[visit") or not content.strip()
    if failed:
        observation = {
            "call_id": task["call_id"],
            "index": task["index"],
            "text": visit_failure(url, goal),
        }
        return {"observations": [observation], "clock": time.time()}
    blob = ctx.blobs.put(content.encode("utf-8"))
    return {"pages": [{**task, "blob": blob}], "sources": [url], "clock": time.time()}


def _json_object(raw: str) -> dict[str, Any] | None:
    raw = raw.replace("```json", "").replace("```", "").strip()
    try:
        value = json.loads(raw)
    except ValueError:
        left, right = raw.find("{"), raw.rfind("}")
        try:
            value = json.loads(raw[left : right + 1]) if 0 <= left < right else None
        except ValueError:
            value = None
    return value if isinstance(value, dict) and {"evidence", "summary"} <= value.keys() else None


async def _summarize(ctx: ToolContext, content: str, goal: str) -> str:
    """'' when the model rejects the request (e.g. context too long), as the reference does."""
    prompt = prompts.EXTRACTOR_PROMPT.format(webpage_content=content, goal=goal)
    try:
        result = await chat(
            ctx.extract_model,
            [{"role": "user", "content": prompt}],
            Sampling(),
            temperature=prompts.EXTRACTOR_TEMPERATURE,
        )
    except ApplicationError as error:
        if not error.non_retryable:
            raise
        return ""
    return result.text


async def extract_evidence(ctx: ToolContext, content: str, url: str, goal: str) -> str:
    """The reference's extraction: shrink the page while the model returns nothing usable, then
    parse its JSON (three re-asks), then format evidence + summary."""
    content = truncate_tokens(content, PAGE_TOKEN_LIMIT)
    raw = await _summarize(ctx, content, goal)
    shrinks = 3
    while len(raw) < 10 and shrinks >= 0:
        content = content[: int(0.7 * len(content)) if shrinks > 0 else FINAL_TRUNCATION]
        raw = await _summarize(ctx, content, goal)
        shrinks -= 1
    parsed = _json_object(raw)
    for _ in range(3):
        if parsed is not None:
            break
        parsed = _json_object(await _summarize(ctx, content, goal))
    if parsed is None:
        return visit_failure(url, goal)
    return prompts.VISIT_RESULT.format(
        url=url, goal=goal, evidence=str(parsed["evidence"]), summary=str(parsed["summary"])
    )


async def extract(task: dict[str, Any]) -> dict[str, Any]:
    """Graph node: goal-directed extraction of one fetched page."""
    ctx = current()
    url, goal = task["url"], task["goal"]
    content = ctx.blobs.get(task["blob"]).decode("utf-8")
    text = await tool_outcome(
        heartbeating(extract_evidence(ctx, content, url, goal)),
        fallback=visit_failure(url, goal),
        label="visit",
    )
    observation = {"call_id": task["call_id"], "index": task["index"], "text": text, "source": url}
    update: dict[str, Any] = {"observations": [observation], "clock": time.time()}
    if text != visit_failure(url, goal):  # what was read, for grounded reports
        update["ledger"] = [{"url": url, "evidence": text[:LEDGER_EXCERPT]}]
    return update
