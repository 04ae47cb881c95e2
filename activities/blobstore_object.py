"""The object-store backend: S3 (and S3-compatible: MinIO, R2, moto), GCS and Azure via obstore.

Credentials, endpoint and region come from the provider's standard variables, read by obstore's
own credential chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, web identity, ECS, IMDS;
`GOOGLE_*`; `AZURE_*`); only what it does not read (`AWS_ALLOW_HTTP`) is handed in. Requests are
async (the codec awaits them on the worker's event loop), retried with exponential backoff and
jitter for up to `retry_seconds` (5xx, timeouts, connection errors), and every failure that is
not "no such blob" becomes one line naming the store and what to check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import (
    BaseError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from obstore.store import from_url

from activities.blobstore import (
    ENTRY,
    UPLOADS,
    BlobInfo,
    BlobStoreError,
    EntryInfo,
    blob_key,
    digest_of,
    digest_of_key,
    entry_key,
    hash_file,
    marker_size,
    upload_marker,
)
from activities.errors import ConfigurationError

SCHEMES = ("s3", "s3a", "gs", "az", "azure", "abfs", "abfss")
PROBE_SECONDS = 5.0  # the start-up check fails fast; the codec's calls wait out an outage
_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>")
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "ExpiredToken",
    "InvalidToken",
    "AuthorizationHeaderMalformed",
    "AuthenticationFailed",
}


def _code(error: BaseException) -> str | None:
    match = _CODE.search(str(error))
    return match.group(1) if match else None


def _reason(error: BaseException) -> str:
    """The informative part of obstore's multi-line message."""
    text = str(error).split("\n\nDebug source:", 1)[0].strip()
    text = re.sub(r"Error performing \w+ \S+ in [^-]+- ", "", text)
    text = re.sub(r"<\?xml.*", "", text, flags=re.S).strip().rstrip(":")
    return " ".join(text.split())[:200]


class ObjectBlobStore:
    """Blobs as objects `<prefix>/sha256/ab/cdef...` in a bucket."""

    def __init__(
        self,
        url: str,
        *,
        allow_http: bool = False,
        endpoint: str | None = None,
        region: str | None = None,
        retry_seconds: float = 30.0,
        credentials: dict[str, str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.netloc:
            raise ConfigurationError(
                f"invalid setting DEEPRESEARCH_BLOB_URL: {url!r} is not an object-store URL "
                "(s3://bucket/prefix, gs://bucket/prefix or az://container/prefix; unset it "
                "for the local directory under DEEPRESEARCH_DATA_DIR)"
            )
        self.location = url.rstrip("/")
        self.endpoint = endpoint
        self.retry_seconds = retry_seconds
        config: dict[str, Any] = {}
        if parts.scheme in ("s3", "s3a"):
            if endpoint:
                config["endpoint"] = endpoint
            if region:
                config["region"] = region
            config.update(credentials or {})  # access_key_id, secret_access_key, token
        options = {"allow_http": allow_http, "connect_timeout": "5s", "timeout": "120s"}
        try:
            self._store = self._open(url, config, options, retry_seconds)
            self._probe = self._open(url, config, options, PROBE_SECONDS)
        except (BaseError, ValueError) as error:
            raise ConfigurationError(
                f"invalid setting DEEPRESEARCH_BLOB_URL: {url}: {_reason(error)}"
            ) from None

    @staticmethod
    def _open(url: str, config: dict[str, Any], options: dict[str, Any], seconds: float) -> Any:
        retry = {
            "max_retries": 1000,  # bounded by the time budget, not a count
            "retry_timeout": timedelta(seconds=seconds),
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=5),
                "base": 2,
            },
        }
        return from_url(url, config=config or None, client_options=options, retry_config=retry)

    def __repr__(self) -> str:
        return f"ObjectBlobStore({self.location!r})"

    # -- errors ------------------------------------------------------------------------

    def _failure(self, error: BaseException, digest: str | None, seconds: float) -> Exception:
        """KeyError for a missing blob; BlobStoreError (one line) for everything else."""
        code = _code(error)
        if code == "NoSuchBucket":
            return BlobStoreError(
                f"blob store {self.location}: the bucket does not exist (create it, or fix "
                "DEEPRESEARCH_BLOB_URL)",
                store=self.location,
            )
        if isinstance(error, FileNotFoundError | NotFoundError) and digest is not None:
            return KeyError(f"blob {digest} is not in {self.location}")
        if isinstance(error, PermissionDeniedError | UnauthenticatedError) or (
            code in _CREDENTIAL_CODES
        ):
            return BlobStoreError(
                f"blob store {self.location} refused the credentials ({code or _reason(error)}); "
                "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the role) and the "
                "bucket's policy",
                store=self.location,
            )
        text = str(error)
        if "error sending request" in text or "timed out" in text or "connect" in text.lower():
            where = f" at {self.endpoint}" if self.endpoint else ""
            return BlobStoreError(
                f"blob store {self.location} is unreachable{where} (retried for "
                f"{seconds:g} s): {_reason(error)}; check AWS_ENDPOINT_URL and the network",
                store=self.location,
            )
        return BlobStoreError(f"blob store {self.location}: {_reason(error)}", store=self.location)

    # -- the protocol ------------------------------------------------------------------

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        try:
            obstore.put(self._store, blob_key(digest), data)
        except (BaseError, OSError) as error:
            raise self._failure(error, None, self.retry_seconds) from None
        return digest

    def put_file(self, handle: BinaryIO) -> str:
        """Hashed in one pass, then sent in parts (two in flight: memory stays ~10 MiB)."""
        digest = hash_file(handle)
        try:
            obstore.put(self._store, blob_key(digest), handle, max_concurrency=2)
        except (BaseError, OSError) as error:
            raise self._failure(error, None, self.retry_seconds) from None
        return digest

    def record_upload(self, digest: str, size: int) -> None:
        try:
            obstore.put(self._store, upload_marker(digest, size), b"")
        except (BaseError, OSError) as error:
            raise self._failure(error, None, self.retry_seconds) from None

    def uploaded_bytes(self) -> int:
        try:
            return sum(
                marker_size(meta["path"])
                for batch in obstore.list(self._store, prefix=f"{UPLOADS}/", chunk_size=1000)
                for meta in batch
            )
        except (BaseError, OSError) as error:
            raise self._failure(error, None, self.retry_seconds) from None

    def get(self, digest: str) -> bytes:
        key = blob_key(digest)
        try:
            return bytes(obstore.get(self._store, key).bytes())
        except (BaseError, OSError) as error:
            raise self._failure(error, digest, self.retry_seconds) from None

    async def put_async(self, data: bytes) -> str:
        digest = digest_of(data)
        try:
            await obstore.put_async(self._store, blob_key(digest), data)
        except (BaseError, OSError) as error:
            raise self._failure(error, None, self.retry_seconds) from None
        return digest

    async def get_async(self, digest: str) -> bytes:
        key = blob_key(digest)
        try:
            result = await obstore.get_async(self._store, key)
            return bytes(await result.bytes_async())
        except (BaseError, OSError) as error:
            raise self._failure(error, digest, self.retry_seconds) from None

    async def check(self) -> None:
        """Write (idempotently) and read back the empty blob, within a few seconds."""
        empty = digest_of(b"")
        try:
            await obstore.put_async(self._probe, blob_key(empty), b"")
            await obstore.head_async(self._probe, blob_key(empty))
        except (BaseError, OSError) as error:
            raise self._failure(error, None, PROBE_SECONDS) from None

    def scan(self) -> Iterator[BlobInfo]:
        try:
            for batch in obstore.list(self._store, prefix="sha256/", chunk_size=1000):
                for meta in batch:
                    digest = digest_of_key(meta["path"])
                    if digest is not None:
                        yield BlobInfo(digest, meta["size"], meta["last_modified"])
        except (BaseError, OSError) as error:
            raise self._failure(error, None, self.retry_seconds) from None

    def delete(self, digest: str, *, unless_modified_after: datetime) -> bool:
        key = blob_key(digest)
        try:
            meta = obstore.head(self._store, key)
            if meta["last_modified"] > unless_modified_after:
                return False
            obstore.delete(self._store, key)
            marker = f"{UPLOADS}/{digest.partition(':')[2]}"
            for batch in obstore.list(self._store, prefix=marker, chunk_size=1000):
                for meta in batch:
                    obstore.delete(self._store, meta["path"])
        except (FileNotFoundError, NotFoundError):
            return False
        except (BaseError, OSError) as error:
            raise self._failure(error, None, self.retry_seconds) from None
        return True

    def put_entry(self, name: str, data: bytes) -> None:
        try:
            obstore.put(self._store, entry_key(name), data)  # a PUT replaces an object whole
        except (BaseError, OSError) as error:
            raise self._failure(error, None, self.retry_seconds) from None

    def get_entry(self, name: str) -> bytes:
        try:
            return bytes(obstore.get(self._store, entry_key(name)).bytes())
        except (BaseError, OSError) as error:
            raise self._failure(error, name, self.retry_seconds) from None

    async def put_entry_async(self, name: str, data: bytes) -> None:
        try:
            await obstore.put_async(self._store, entry_key(name), data)
        except (BaseError, OSError) as error:
            raise self._failure(error, None, self.retry_seconds) from None

    async def get_entry_async(self, name: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, entry_key(name))
            return bytes(await result.bytes_async())
        except (BaseError, OSError) as error:
            raise self._failure(error, name, self.retry_seconds) from None

    def entries(self, prefix: str) -> Iterator[EntryInfo]:
        try:
            for batch in obstore.list(self._store, prefix=prefix, chunk_size=1000):
                for meta in batch:
                    if ENTRY.fullmatch(meta["path"]):
                        yield EntryInfo(meta["path"], meta["size"], meta["last_modified"])
        except (BaseError, OSError) as error:
            raise self._failure(error, None, self.retry_seconds) from None

    def delete_entry(self, name: str) -> bool:
        key = entry_key(name)
        try:
            obstore.head(self._store, key)
            obstore.delete(self._store, key)
        except (FileNotFoundError, NotFoundError):
            return False
        except (BaseError, OSError) as error:
            raise self._failure(error, None, self.retry_seconds) from None
        return True
