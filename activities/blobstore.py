"""Content-addressed blob store: large payloads live here, histories hold their digests."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    """What the claim-check codec and the tools need; an S3-compatible store fits the same shape."""

    def put(self, data: bytes) -> str: ...

    def get(self, digest: str) -> bytes: ...


class LocalBlobStore:
    """A directory of `sha256/ab/cdef...` files, written atomically; safe for many processes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, digest: str) -> Path:
        algo, _, hexdigest = digest.partition(":")
        if (
            algo != "sha256"
            or len(hexdigest) != 64
            or not all(c in "0123456789abcdef" for c in hexdigest)
        ):
            raise ValueError(f"not a blob digest: {digest!r}")
        return self.root / algo / hexdigest[:2] / hexdigest[2:]

    def put(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            raise KeyError(f"blob {digest} is not in {self.root}") from None
