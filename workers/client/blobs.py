"""Blob lifecycle: delete the blobs no retained history references (`deepresearch blobs gc`).

Research cache entries (`activities/cache`) past their TTL are deleted first; the blobs the fresh
ones hold are kept like referenced ones, whatever their age, so a cached page outlives the
sessions that read it for as long as DEEPRESEARCH_CACHE_TTL serves it and no longer.

A blob is kept when any workflow history of the namespace, running or closed and still retained,
references it — as a claim-checked payload, or as a digest inside a payload (pages and uploads
travel through the state as digests, often inside a claim-checked payload: those are opened and
scanned too) — or when it was written after the cutoff. The cutoff covers blobs written but not
yet in a history (a page stored by an activity that has not completed); a put of an existing blob
refreshes its age, and each deletion re-checks the age first, so a blob a running session writes
again while the scan runs is kept.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from activities.blobstore import BlobStore
from activities.cache import ResearchCache
from activities.claimcheck import ENCODING, inflate

DIGEST = re.compile(rb"sha256:[0-9a-f]{64}")
MAX_INFLATED = 256 * 1024 * 1024  # a claim-checked payload larger than this is not ours


@dataclass
class GcReport:
    """What one collection saw and did."""

    store: str
    cutoff: datetime
    dry_run: bool
    histories: int = 0
    referenced: int = 0
    stored: int = 0
    kept_referenced: int = 0
    kept_young: int = 0
    deleted: int = 0
    deleted_bytes: int = 0
    missing: int = 0  # referenced by a history but not in the store (that history is unreadable)
    cache_entries: int = 0  # research cache entries seen
    cache_expired: int = 0  # of those, past their TTL: deleted
    kept_cached: int = 0  # blobs kept because a fresh cache entry holds them (and no history)
    deleted_digests: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["cutoff"] = self.cutoff.isoformat()
        return data


def payloads(message: Message) -> Iterator[Payload]:
    """Every Payload inside a history event (inputs, results, failures, memo, headers...)."""
    if isinstance(message, Payload):
        yield message
        return
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            entry_value = descriptor.message_type.fields_by_name["value"]
            if entry_value.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value.values():
                    yield from payloads(item)
        elif descriptor.is_repeated:
            for item in value:
                yield from payloads(item)
        else:
            yield from payloads(value)


class _References:
    """Digests referenced from histories, opening claim-checked payloads (each once)."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.digests: set[str] = set()
        self.opened: set[str] = set()
        self.missing: set[str] = set()

    async def add_payload(self, payload: Payload) -> None:
        if payload.metadata.get("encoding") == ENCODING:
            digest = payload.data.decode("ascii", "replace")
            self.digests.add(digest)
            if digest in self.opened:
                return
            self.opened.add(digest)
            try:
                blob = await self.store.get_async(digest)
            except (KeyError, ValueError):
                self.missing.add(digest)
                return
            inner = Payload()
            try:
                inner.ParseFromString(await asyncio.to_thread(inflate, blob, MAX_INFLATED))
            except (zlib.error, DecodeError, ValueError):
                return
            await self.add_payload(inner)
            return
        self.digests.update(m.decode() for m in DIGEST.findall(payload.data))


async def referenced_digests(
    client: Client, store: BlobStore, concurrency: int = 8
) -> tuple[set[str], set[str], int]:
    """(referenced digests, missing ones, histories scanned) over every workflow execution of
    the client's namespace that Temporal still holds."""
    refs = _References(store)
    slots = asyncio.Semaphore(concurrency)
    count = 0

    async def scan(workflow_id: str, run_id: str | None) -> None:
        async with slots:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            for event in history.events:
                for payload in payloads(event):
                    await refs.add_payload(payload)

    tasks = []
    async for execution in client.list_workflows():
        count += 1
        tasks.append(asyncio.create_task(scan(execution.id, execution.run_id)))
    await asyncio.gather(*tasks)
    return refs.digests, refs.missing, count


async def collect_garbage(
    client: Client,
    store: BlobStore,
    older_than: timedelta,
    *,
    dry_run: bool = False,
    cache: ResearchCache | None = None,
) -> GcReport:
    """Delete the research cache's expired entries (`cache`: with the deployment's TTLs), then
    the blobs older than `older_than` that no retained history and no fresh entry references."""
    if older_than <= timedelta(0):
        raise ValueError("older_than must be positive")
    cutoff = datetime.now(UTC) - older_than  # fixed before the scan: later writes are younger
    report = GcReport(store=store.location, cutoff=cutoff, dry_run=dry_run)
    cached: set[str] = set()
    if cache is not None:
        swept = await asyncio.to_thread(cache.sweep, dry_run=dry_run)
        report.cache_entries, report.cache_expired = swept.entries, swept.expired
        cached = swept.live_digests
    referenced, missing, report.histories = await referenced_digests(client, store)
    report.referenced, report.missing = len(referenced), len(missing)

    def sweep() -> None:
        for info in store.scan():
            report.stored += 1
            if info.digest in referenced:
                report.kept_referenced += 1
            elif info.digest in cached:
                report.kept_cached += 1
            elif info.modified > cutoff:
                report.kept_young += 1
            elif dry_run or store.delete(info.digest, unless_modified_after=cutoff):
                report.deleted += 1
                report.deleted_bytes += info.size
                report.deleted_digests.append(info.digest)
            else:
                report.kept_young += 1  # written again since the listing

    await asyncio.to_thread(sweep)
    return report
