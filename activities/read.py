"""Page reading (the reference's `visit`): fetch the page into the blob store (Jina Reader, or a
direct fetch + trafilatura), then goal-directed extraction by the model; one activity per URL
(`read`), or two (`fetch`, `extract`) in sessions started before `read` existed."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.cache import CacheUse, Hit, ResearchCache, Served
from activities.charset import decode, response_text
from activities.context import ToolContext, current
from activities.corpus import DOC_PREFIX, read_document
from activities.errors import ToolError, from_transport, raise_for_http, status_error
from activities.files import parse_bytes
from activities.heartbeat import beat, remember
from activities.html_text import html_to_text
from activities.llm import complete
from activities.netguard import check_reader_url, check_url, is_public, pinned
from activities.outcome import attempt_deadline, tool_outcome
from graphs import prompts
from graphs.tokens import truncate_tokens

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


def fetch_record(
    via: str, status: int | None = None, final_url: str | None = None
) -> dict[str, Any]:
    """How a page's text was obtained, for provenance bundles: who fetched it (`jina`,
    `direct`, `index`), the HTTP status of the response the text came from (the reader's own
    for `jina`: the page's is not reported), the URL after redirects (None where only the
    reader knows it) and when, in UTC."""
    return {
        "via": via,
        "status": status,
        "final_url": final_url,
        "fetched_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


async def _jina(ctx: ToolContext, url: str, record: dict[str, Any] | None = None) -> str:
    headers = {"Authorization": f"Bearer {ctx.jina_key}"} if ctx.jina_key else {}
    try:
        response = await ctx.http.get(f"{ctx.jina_url.rstrip('/')}/{url}", headers=headers)
    except httpx.InvalidURL as error:  # not an HTTPError: what the URL holds, never retried
        raise ToolError(f"invalid URL {url!r}: {error}", url=url) from None
    except httpx.HTTPError as error:
        raise from_transport("Jina Reader", error) from error
    raise_for_http("Jina Reader", response)
    if record is not None:
        record.update(fetch_record("jina", response.status_code))
    return response_text(response)


async def _direct(ctx: ToolContext, url: str, record: dict[str, Any] | None = None) -> str:
    """GET with every redirect hop re-checked by netguard and the body size capped."""
    for _ in range(MAX_REDIRECTS + 1):
        address = await check_url(url, allow_loopback=ctx.allow_loopback)
        try:
            target, headers, extensions = pinned(url, address)
            async with ctx.http.stream(
                "GET", target, headers=headers, extensions=extensions, follow_redirects=False
            ) as response:
                if response.is_redirect and "location" in response.headers:
                    url = _redirect_target(url, response.headers["location"])
                    continue
                if not response.is_success:
                    await response.aread()
                    raise status_error(
                        "page", response.status_code, response.headers, response_text(response)
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > ctx.page_max_bytes:
                        raise ToolError(f"page larger than {ctx.page_max_bytes} bytes", url=url)
                is_pdf = "pdf" in response.headers.get("content-type", "")
                charset = response.charset_encoding
                if record is not None:
                    record.update(fetch_record("direct", response.status_code, url))
        except httpx.InvalidURL as error:  # e.g. a Location httpx cannot parse ("http:x/")
            raise ToolError(f"invalid URL reading {url!r}: {error}", url=url) from None
        except httpx.HTTPError as error:
            raise from_transport("page", error) from error
        if is_pdf or body.startswith(b"%PDF"):
            return await asyncio.to_thread(parse_bytes, "page.pdf", bytes(body))
        html = decode(bytes(body), charset)  # never raises, whatever charset the page names
        return await asyncio.to_thread(html_to_text, html, url)
    raise ToolError(f"more than {MAX_REDIRECTS} redirects", url=url)


def _redirect_target(url: str, location: str) -> str:
    """The next hop's URL; a Location that cannot be joined is the page's error, not ours."""
    try:
        return urljoin(url, location)
    except ValueError as error:
        raise ToolError(
            f"invalid redirect from {url!r} to {location!r}: {error}", url=url
        ) from None


async def read_page(ctx: ToolContext, url: str, record: dict[str, Any] | None = None) -> str:
    """Jina Reader fetches remotely (the URL is checked, the reader's own hops cannot be); a
    direct fetch is guarded hop by hop. A `doc:` id from the local search backend is read from
    the index, not the network, so netguard has nothing to check. `record`, when given, is
    filled with how the text was obtained (`fetch_record`)."""
    if url.startswith(DOC_PREFIX):
        if not ctx.index_dir:
            raise ToolError(f"cannot read {url!r}: no local index is configured", url=url)
        text = await asyncio.to_thread(read_document, ctx.index_dir, url)
        if record is not None:
            record.update(fetch_record("index", final_url=url))
        return text
    if ctx.jina_key or ctx.jina_keyless:
        await check_reader_url(url, allow_loopback=ctx.allow_loopback)
        try:
            return await _jina(ctx, url, record)
        except ApplicationError as error:
            if not error.non_retryable or error.type in ("HTTP401", "HTTP402"):
                raise  # retry Jina itself; a bad key or quota is the operator's to fix
            # Jina refused this page (blocked, 403, 422): read it ourselves instead.
    return await _direct(ctx, url, record)


async def _fetched(
    ctx: ToolContext,
    task: dict[str, Any],
    deadline: float | None = None,
    record: dict[str, Any] | None = None,
) -> str | None:
    """The page's text, or None when it cannot be read (the reader's error, a blank page)."""
    content = await tool_outcome(
        read_page(ctx, task["url"], record),
        fallback=prompts.VISIT_READ_FAILED,
        label="visit",
        deadline=deadline,
    )
    return None if content.startswith("[visit") or not content.strip() else content


def _unread(task: dict[str, Any]) -> dict[str, Any]:
    """The update for a page that could not be read: the reference's failure text."""
    text = visit_failure(task["url"], task["goal"])
    observation = {"call_id": task["call_id"], "index": task["index"], "text": text}
    return {"observations": [observation], "clock": time.time()}


async def fetch(task: dict[str, Any]) -> dict[str, Any]:
    """Graph node: read one URL of a `visit` call into the blob store; the page's digest goes on
    to `extract`, a failure becomes the reference's failure text."""
    ctx = current()
    content = await _fetched(ctx, task)
    if content is None:
        return _unread(task)
    blob = await ctx.blobs.put_async(content.encode("utf-8"))
    return {"pages": [{**task, "blob": blob}], "sources": [task["url"]], "clock": time.time()}


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
    messages = [{"role": "user", "content": prompt}]
    try:
        # Only what the reference sends its summary model (temperature 0.7, unless configured).
        params = ctx.extract_sampling.params()
        result = await complete(ctx.extract_model, messages, params, stream=False)
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


async def _extracted(
    ctx: ToolContext, task: dict[str, Any], content: str, deadline: float | None = None
) -> dict[str, Any]:
    """The update for a read page: its evidence as the observation, and in the ledger."""
    url, goal = task["url"], task["goal"]
    text = await tool_outcome(
        extract_evidence(ctx, content, url, goal),
        fallback=visit_failure(url, goal),
        label="visit",
        deadline=deadline,
    )
    return _evidence(task, text)


def _evidence(task: dict[str, Any], text: str) -> dict[str, Any]:
    url, goal = task["url"], task["goal"]
    observation = {"call_id": task["call_id"], "index": task["index"], "text": text, "source": url}
    update: dict[str, Any] = {"observations": [observation], "clock": time.time()}
    if text != visit_failure(url, goal):  # what was read, for grounded reports
        update["ledger"] = [{"url": url, "evidence": text[:LEDGER_EXCERPT]}]
    return update


async def extract(task: dict[str, Any]) -> dict[str, Any]:
    """Graph node: goal-directed extraction of one fetched page."""
    ctx = current()
    content = (await ctx.blobs.get_async(task["blob"])).decode("utf-8")
    return await _extracted(ctx, task, content)


async def _read_before(ctx: ToolContext) -> tuple[str, str, dict[str, Any] | None] | None:
    """The page an earlier attempt of this activity read (its digest in the heartbeat details,
    then how it was fetched, where recorded), its text and that record; None on a first
    attempt, or when the blob is gone."""
    details = activity.info().heartbeat_details if activity.in_activity() else []
    stored = await _stored(ctx, details[0] if details else None)
    if stored is None:
        return None
    record = details[1] if len(details) > 1 and isinstance(details[1], dict) else None
    return *stored, record


async def _stored(ctx: ToolContext, blob: Any) -> tuple[str, str] | None:
    """A page in the blob store and its text, by digest (an earlier attempt's, or a
    follow-up's earlier session's); None when there is none or its blob is gone."""
    if not isinstance(blob, str):
        return None
    try:
        return blob, (await ctx.blobs.get_async(blob)).decode("utf-8")
    except KeyError:
        return None


def _extracted_well(task: dict[str, Any], text: str) -> bool:
    """Evidence worth keeping: not the reference's failure text, not a tool error."""
    return text != visit_failure(task["url"], task["goal"]) and not text.startswith("[visit")


@dataclass(frozen=True)
class _PageCache:
    """The research cache as one read uses it: page and extraction share a scope (public web
    pages may serve every tenant; loopback, private and unresolvable ones only the tenant)."""

    cache: ResearchCache
    use: CacheUse
    public: bool

    @classmethod
    async def of(cls, ctx: ToolContext, task: dict[str, Any]) -> _PageCache | None:
        use, url = CacheUse.of(task), task["url"]
        if ctx.cache is None or use is None or not ctx.cache.on("page"):
            return None
        if url.startswith(DOC_PREFIX):
            return None  # the local corpus: no provider to spare
        public = ctx.cache.shared and await is_public(url)
        return cls(ctx.cache, use, public)

    async def lookup(self, kind: str, key: dict[str, Any]) -> Hit | None:
        return await self.cache.lookup(self.use, kind, key, public=self.public)

    async def keep(self, kind: str, key: dict[str, Any], data: bytes, digest: str | None) -> None:
        await self.cache.keep(self.use, kind, key, data, public=self.public, digest=digest)


def _extraction_key(ctx: ToolContext, task: dict[str, Any], blob: str) -> dict[str, Any]:
    """An extraction depends on the page as read (its digest: a changed page is extracted
    again), the goal, the extractor model and its sampling."""
    model, sampling = ctx.extract_model.model, ctx.extract_sampling.params()
    return {"url": task["url"], "goal": task["goal"], "model": model, "sampling": sampling,
            "page": blob}  # fmt: skip


async def read(task: dict[str, Any]) -> dict[str, Any]:
    """Graph node: one URL of a `visit` call, fetched and extracted in one activity (a round
    trip to the server and a workflow task fewer per page than `fetch` then `extract`). The
    page goes to the blob store first and its digest into the heartbeat details, so an attempt
    that follows a failed extraction, or a dead worker, extracts it without reading it again.

    The research cache comes after both (an attempt goes on with the page its attempt before
    read, whatever the cache holds by now): a fresh page text spares the reader, a fresh
    extraction of that very page for the same goal and extractor spares the model."""
    ctx = current()
    deadline = attempt_deadline()  # one deadline for both halves of the attempt
    served = Served()
    cache = await _PageCache.of(ctx, task)
    earlier = await _read_before(ctx)
    record: dict[str, Any] | None = {}
    if earlier is not None:
        blob, content, record = earlier
    elif (stored := await _stored(ctx, task.get("blob"))) is not None:
        blob, content = stored  # a follow-up's earlier session read it
        record = {"via": "earlier session"}
    else:
        hit = await cache.lookup("page", {"url": task["url"]}) if cache else None
        if hit is not None:
            blob, content = hit.digest, hit.data.decode("utf-8")
            served.add("page", hit)
            record = {"via": "research cache", "age_s": round(hit.age_s, 3)}
        else:
            content = await _fetched(ctx, task, deadline, record)
            if content is None:
                return _unread(task)
            data = content.encode("utf-8")
            blob = await ctx.blobs.put_async(data)
            if cache:
                await cache.keep("page", {"url": task["url"]}, data, blob)
        remember(blob, record)
    key = _extraction_key(ctx, task, blob)
    hit = await cache.lookup("extraction", key) if cache else None
    if hit is not None:
        update = _evidence(task, hit.data.decode("utf-8"))
        served.add("extraction", hit)
    else:
        try:
            update = await _extracted(ctx, task, content, deadline)
        except Exception:
            beat(blob, record)  # the details, before the failure: the next attempt starts from them
            raise
        text = update["observations"][0]["text"]
        if cache and _extracted_well(task, text):
            await cache.keep("extraction", key, text.encode("utf-8"), None)
    update["observations"][0]["blob"] = blob  # the page as read: `show --blob`
    if record:
        update["observations"][0]["fetch"] = record  # how it was fetched: provenance bundles
    served.mark(update["observations"][0])
    return {**update, "sources": [task["url"]]}
