"""Content-addressed blob store: large payloads live here, histories hold their digests.

Two backends behind one protocol: `LocalBlobStore` (a directory, the default) here, and
`ObjectBlobStore` (S3, GCS, Azure through obstore) in `blobstore_object.py`;
`open_blob_store(url, local_dir)` picks one. Keys are the digests: `sha256/ab/cdef...` under the
directory or the URL's prefix, so a put is idempotent and two processes never disagree.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from activities.errors import DeepResearchError

HEX = frozenset("0123456789abcdef")
CHUNK = 1024 * 1024
UPLOADS = "uploads"  # markers `uploads/<hex>/<size>`: which blobs are uploaded files, how big
# Named entries (small records beside the blobs, e.g. the research cache's `cache/page/<hex>`):
# lower-case segments, never under the blobs' or the markers' folders.
ENTRY = re.compile(r"[a-z][a-z0-9_-]*(/[a-z0-9_][a-z0-9_.-]*)+")


class BlobStoreError(DeepResearchError):
    """The store cannot be used (unreachable, credentials refused, no such bucket); the message
    is one line naming the store and what to check."""


@dataclass(frozen=True)
class BlobInfo:
    """One stored blob as a listing sees it (for `deepresearch blobs gc`)."""

    digest: str
    size: int
    modified: datetime  # aware, UTC: last written (a put of an existing blob refreshes it)


@dataclass(frozen=True)
class EntryInfo:
    """One named entry as a listing sees it."""

    name: str
    size: int
    modified: datetime  # aware, UTC


class BlobStore(Protocol):
    """What the claim-check codec, the tools and the clients need. `put`/`get` block (threads,
    the CLI); the `_async` forms are for event loops (the codec, activities)."""

    location: str  # a directory or a URL, for messages

    def put(self, data: bytes) -> str: ...

    def get(self, digest: str) -> bytes: ...

    def put_file(self, handle: BinaryIO) -> str:
        """Store a file read in chunks (an upload): memory stays flat whatever its size."""
        ...

    def record_upload(self, digest: str, size: int) -> None:
        """Count a stored blob as an uploaded file (for DEEPRESEARCH_UPLOAD_QUOTA_BYTES)."""
        ...

    def uploaded_bytes(self) -> int:
        """The bytes of the uploaded files stored (each digest once)."""
        ...

    async def put_async(self, data: bytes) -> str: ...

    async def get_async(self, digest: str) -> bytes: ...

    async def check(self) -> None:
        """Raise BlobStoreError in one line unless the store answers and accepts writes."""
        ...

    def scan(self) -> Iterator[BlobInfo]:
        """Every stored blob (any order)."""
        ...

    def delete(self, digest: str, *, unless_modified_after: datetime) -> bool:
        """Delete a blob unless it was written after the cutoff (a put since the listing);
        True when it was deleted."""
        ...

    # Named entries: small mutable records (the research cache's index) under a name, not a
    # digest. A put replaces the entry whole (atomically); readers see the old or the new one.

    def put_entry(self, name: str, data: bytes) -> None: ...

    async def put_entry_async(self, name: str, data: bytes) -> None: ...

    async def get_entry_async(self, name: str) -> bytes:
        """The entry's bytes; KeyError when there is none."""
        ...

    def get_entry(self, name: str) -> bytes: ...

    def entries(self, prefix: str) -> Iterator[EntryInfo]:
        """Every entry whose name starts with `prefix` (a folder, e.g. `cache/`)."""
        ...

    def delete_entry(self, name: str) -> bool:
        """True when it was there."""
        ...


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_key(digest: str) -> str:
    """`sha256:abcd...` -> `sha256/ab/cd...`; ValueError for anything that is not a digest."""
    algo, _, hexdigest = digest.partition(":")
    if algo != "sha256" or len(hexdigest) != 64 or not HEX.issuperset(hexdigest):
        raise ValueError(f"not a blob digest: {digest!r}")
    return f"{algo}/{hexdigest[:2]}/{hexdigest[2:]}"


def upload_marker(digest: str, size: int) -> str:
    """The key that marks `digest` as an uploaded file of `size` bytes."""
    blob_key(digest)  # ValueError for anything that is not a digest
    return f"{UPLOADS}/{digest.partition(':')[2]}/{size}"


def marker_size(key: str) -> int:
    """The size a marker's key records (0 for a foreign key)."""
    _, _, size = key.rpartition("/")
    return int(size) if size.isdigit() else 0


def entry_key(name: str) -> str:
    """The key of a named entry; ValueError for a name that could collide with a blob, a
    marker, or climb out of the store (`..`)."""
    first = name.partition("/")[0]
    if not ENTRY.fullmatch(name) or first in ("sha256", UPLOADS) or "/../" in f"{name}/":
        raise ValueError(f"not an entry name: {name!r}")
    return name


def hash_file(handle: BinaryIO) -> str:
    """The digest of a file read from its start in chunks; left at its start again."""
    handle.seek(0)
    hasher = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        hasher.update(chunk)
    handle.seek(0)
    return "sha256:" + hasher.hexdigest()


def digest_of_key(key: str) -> str | None:
    """The inverse of `blob_key` for a listed key (relative to the store's root); None for
    anything else (temporary files, foreign objects under the prefix)."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "sha256" or len(parts[1]) != 2 or len(parts[2]) != 62:
        return None
    digest = f"sha256:{parts[1]}{parts[2]}"
    return digest if HEX.issuperset(parts[1] + parts[2]) else None


class LocalBlobStore:
    """A directory of `sha256/ab/cdef...` files, written atomically; safe for many processes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def _path(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        path = self._path(digest)
        if path.exists():
            # Refresh its age: a blob written again is in use again (gc keeps young blobs).
            try:
                os.utime(path)
            except OSError:
                pass
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
        return digest

    def put_file(self, handle: BinaryIO) -> str:
        """Copied to a temporary file while hashed, then renamed to its digest."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        hasher = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := handle.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
            digest = "sha256:" + hasher.hexdigest()
            path = self._path(digest)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def record_upload(self, digest: str, size: int) -> None:
        marker = self.root / upload_marker(digest, size)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()

    def uploaded_bytes(self) -> int:
        return sum(marker_size(p.name) for p in (self.root / UPLOADS).glob("*/*"))

    def get(self, digest: str) -> bytes:
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            raise KeyError(f"blob {digest} is not in {self.root}") from None

    async def put_async(self, data: bytes) -> str:
        return await asyncio.to_thread(self.put, data)

    async def get_async(self, digest: str) -> bytes:
        return await asyncio.to_thread(self.get, digest)

    async def check(self) -> None:
        """Nothing to probe: the directory is created on the first write."""

    def scan(self) -> Iterator[BlobInfo]:
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for path in base.glob("??/*"):
            digest = digest_of_key(path.relative_to(self.root).as_posix())
            if digest is None:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            modified = datetime.fromtimestamp(stat.st_mtime, UTC)
            yield BlobInfo(digest, stat.st_size, modified)

    def delete(self, digest: str, *, unless_modified_after: datetime) -> bool:
        path = self._path(digest)
        try:
            if datetime.fromtimestamp(path.stat().st_mtime, UTC) > unless_modified_after:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        markers = self.root / UPLOADS / digest.partition(":")[2]
        shutil.rmtree(markers, ignore_errors=True)  # no longer stored: no longer counted
        return True

    def put_entry(self, name: str, data: bytes) -> None:
        path = self.root / entry_key(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_entry(self, name: str) -> bytes:
        try:
            return (self.root / entry_key(name)).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise KeyError(f"entry {name} is not in {self.root}") from None

    async def put_entry_async(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(self.put_entry, name, data)

    async def get_entry_async(self, name: str) -> bytes:
        return await asyncio.to_thread(self.get_entry, name)

    def entries(self, prefix: str) -> Iterator[EntryInfo]:
        base = self.root / prefix.rstrip("/")
        if not base.is_dir():
            return
        for path in base.rglob("*"):
            name = path.relative_to(self.root).as_posix()
            if path.name.startswith(".tmp-") or not ENTRY.fullmatch(name):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if path.is_file():
                yield EntryInfo(name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def delete_entry(self, name: str) -> bool:
        try:
            (self.root / entry_key(name)).unlink()
        except FileNotFoundError:
            return False
        return True


def open_blob_store(
    url: str | None,
    local_dir: Path,
    *,
    allow_http: bool = False,
    endpoint: str | None = None,
    region: str | None = None,
    retry_seconds: float = 30.0,
    credentials: dict[str, str] | None = None,
) -> BlobStore:
    """The store a deployment configured: `url` (s3://bucket/prefix, gs://..., az://...) or,
    without one, the local directory."""
    if not url:
        return LocalBlobStore(local_dir)
    from activities.blobstore_object import ObjectBlobStore

    return ObjectBlobStore(
        url,
        allow_http=allow_http,
        endpoint=endpoint,
        region=region,
        retry_seconds=retry_seconds,
        credentials=credentials,
    )
