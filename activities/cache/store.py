"""The research cache: search results, page texts and extractions shared by every session and
worker, kept in the blob store (local directory or object store, the same gc).

Content goes into the content-addressed blobs (a page's text is the very blob `read` stores);
beside them a small named entry `cache/<kind>/<sha256 of scope + key>` records where it came
from, when it was fetched and its digest. Entries are only ever consulted inside activities, and
what an activity returns is recorded in history: replay reads the recorded result and never the
cache, so the cache cannot break determinism. Every cache failure is a miss (logged and
counted), never a failed tool call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from activities.blobstore import BlobStore, digest_of
from activities.cache.ttl import TTL_OF, CacheTtl
from activities.errors import DeepResearchError
from activities.metrics import count

PREFIX = "cache/"
PUBLIC = "public"
VERSION = 1
# What a broken store, a torn or foreign entry can raise; anything else is a bug of ours.
_CACHE_ERRORS = (DeepResearchError, OSError, ValueError, KeyError, TypeError)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheUse:
    """A session's use of the cache, carried in its tool tasks (`task["cache"]`): whose it is
    and whether it reads the cache (`ask --no-cache`: no; what it fetches still refreshes it)."""

    tenant: str
    read: bool = True

    @classmethod
    def of(cls, task: dict[str, Any]) -> CacheUse | None:
        """None for a task without one (sessions recorded before the cache): no cache at all."""
        value = task.get("cache")
        if not isinstance(value, dict) or not isinstance(value.get("tenant"), str):
            return None
        return cls(tenant=value["tenant"], read=bool(value.get("read", True)))


@dataclass(frozen=True)
class Hit:
    data: bytes
    digest: str
    age_s: float


@dataclass
class Served:
    """What one observation took from the cache, for its record (`cached`, `cached_age_s`):
    never part of the text the model sees."""

    parts: list[str] = field(default_factory=list)
    age_s: float = 0.0

    def add(self, part: str, hit: Hit) -> None:
        self.parts.append(part)
        self.age_s = max(self.age_s, hit.age_s)  # the oldest part's age

    def mark(self, observation: dict[str, Any]) -> dict[str, Any]:
        if self.parts:
            observation["cached"] = list(self.parts)
            observation["cached_age_s"] = round(self.age_s, 1)
        return observation


def normalize_query(query: str) -> str:
    """The query as search engines treat it: Unicode-normalized, case-folded, one space."""
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())


def entry_name(kind: str, scope: str, key: dict[str, Any]) -> str:
    material = json.dumps(
        {"kind": kind, "scope": scope, "key": key},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return f"{PREFIX}{kind}/{hashlib.sha256(material.encode('utf-8')).hexdigest()}"


@dataclass(frozen=True)
class Record:
    """A cache entry as stored (JSON)."""

    kind: str
    scope: str
    fetched_at: float  # epoch seconds, the fetching worker's clock
    digest: str
    size: int
    key: dict[str, Any]

    def dumps(self) -> bytes:
        data = {"v": VERSION, **self.__dict__}
        return json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def loads(cls, raw: bytes) -> Record:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise ValueError("not a cache entry of this version")
        return cls(
            kind=str(data["kind"]),
            scope=str(data["scope"]),
            fetched_at=float(data["fetched_at"]),
            digest=str(data["digest"]),
            size=int(data["size"]),
            key=dict(data["key"]),
        )


@dataclass
class ResearchCache:
    """The cache over a blob store, with the deployment's TTLs and sharing rule."""

    blobs: BlobStore
    ttl: CacheTtl = field(default_factory=CacheTtl)
    shared: bool = True  # DEEPRESEARCH_CACHE_SHARED: public web results serve every tenant
    clock: Callable[[], float] = time.time

    def on(self, kind: str) -> bool:
        return self.ttl.of(kind) > 0

    def scope(self, use: CacheUse, public: bool) -> str:
        """`public` (every tenant's) for public web results when sharing is on; else the
        tenant's own: another tenant's key never names the same entry."""
        return PUBLIC if public and self.shared else f"tenant/{use.tenant}"

    async def lookup(
        self, use: CacheUse, kind: str, key: dict[str, Any], *, public: bool
    ) -> Hit | None:
        """A fresh entry's content, or None (off, `--no-cache`, absent, expired, unreadable)."""
        if not self.on(kind):
            return None
        if not use.read:
            count("cache_skipped", kind=kind)
            return None
        try:
            hit = await self._lookup(kind, self.scope(use, public), key)
        except _CACHE_ERRORS as error:
            self._failed("read", kind, error)
            hit = None
        if hit is None:
            count("cache_misses", kind=kind)
            return None
        count("cache_hits", kind=kind)
        count("cache_bytes_saved", len(hit.data), kind=kind)
        return hit

    async def _lookup(self, kind: str, scope: str, key: dict[str, Any]) -> Hit | None:
        try:
            raw = await self.blobs.get_entry_async(entry_name(kind, scope, key))
        except KeyError:
            return None
        record = Record.loads(raw)
        age = max(0.0, self.clock() - record.fetched_at)
        if age > self.ttl.of(kind) or record.key != key or record.scope != scope:
            return None
        try:
            data = await self.blobs.get_async(record.digest)
        except KeyError:
            return None  # collected since: fetch again
        if digest_of(data) != record.digest:
            raise ValueError(f"blob {record.digest} does not hold what its digest says")
        return Hit(data=data, digest=record.digest, age_s=age)

    async def keep(
        self,
        use: CacheUse,
        kind: str,
        key: dict[str, Any],
        data: bytes,
        *,
        public: bool,
        digest: str | None = None,
    ) -> None:
        """Store what was just fetched (`digest`: already in the blob store)."""
        if not self.on(kind):
            return
        try:
            if digest is None:
                digest = await self.blobs.put_async(data)
            scope = self.scope(use, public)
            record = Record(kind, scope, self.clock(), digest, len(data), key)
            await self.blobs.put_entry_async(entry_name(kind, scope, key), record.dumps())
        except _CACHE_ERRORS as error:
            self._failed("write", kind, error)
            return
        count("cache_writes", kind=kind)

    async def results(
        self,
        use: CacheUse,
        kind: str,
        key: dict[str, Any],
        served: Served,
        fetch: Callable[[], Awaitable[Any]],
        shown: Callable[[Any], str],
    ) -> str:
        """A provider's (public) results as the model reads them: from a fresh entry, else
        fetched and kept; `shown` formats them either way, so a cached observation is byte for
        byte the live one."""
        hit = await self.lookup(use, kind, key, public=True)
        if hit is not None:
            served.add("results", hit)
            return shown(json.loads(hit.data))
        body = await fetch()
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")
            await self.keep(use, kind, key, data, public=True)
        return shown(body)

    def _failed(self, what: str, kind: str, error: BaseException) -> None:
        count("cache_errors", kind=kind)
        logger.warning("research cache %s of a %s entry failed: %s", what, kind, error)

    # -- the lifecycle (`deepresearch blobs gc`) --------------------------------------------

    def sweep(self, *, dry_run: bool = False) -> Sweep:
        """Delete the entries past their TTL; the digests the others hold are to be kept."""
        report = Sweep()
        now = self.clock()
        for info in self.blobs.entries(PREFIX):
            kind = info.name.removeprefix(PREFIX).partition("/")[0]
            report.entries += 1
            try:
                record = Record.loads(self.blobs.get_entry(info.name))
                fresh = kind in TTL_OF and self.on(kind)
                fresh = fresh and now - record.fetched_at <= self.ttl.of(kind)
            except KeyError:
                continue  # deleted since the listing
            except (ValueError, TypeError):
                fresh, record = False, None  # torn or foreign: nothing can use it
            if fresh and record is not None:
                report.live_digests.add(record.digest)
                continue
            if dry_run or self.blobs.delete_entry(info.name):
                report.expired += 1
        return report


@dataclass
class Sweep:
    entries: int = 0
    expired: int = 0
    live_digests: set[str] = field(default_factory=set)
