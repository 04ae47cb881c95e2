"""Claim-check payload codec: payloads above a size threshold go to the blob store by digest."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from activities.blobstore import BlobStore

ENCODING = b"binary/claim-check-zlib"
DEFAULT_THRESHOLD = 2048
OFF_LOOP = 256 * 1024  # payloads above this many bytes are (de)compressed in a thread


class DecodedTooLarge(ValueError):
    """A blob inflates past the reader's limit (a zlib bomb, or a limit set too low)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"payload inflates past {limit} bytes")
        self.limit = limit


def inflate(data: bytes, limit: int | None) -> bytes:
    """zlib.decompress that stops at `limit` output bytes instead of filling memory."""
    if limit is None:
        return zlib.decompress(data)
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit:
        raise DecodedTooLarge(limit)
    if not inflater.eof:
        raise zlib.error("truncated zlib stream")
    return out


class ClaimCheckCodec(PayloadCodec):
    """Keeps history small: a 100K-token conversation is stored once, history holds 71 bytes.
    The store's I/O is awaited (an object store's requests never block the event loop); the
    payloads of one call go to the store concurrently."""

    def __init__(
        self,
        store: BlobStore,
        threshold: int = DEFAULT_THRESHOLD,
        max_decoded_bytes: int | None = None,
    ) -> None:
        self.store = store
        self.threshold = threshold
        self.max_decoded_bytes = max_decoded_bytes  # None: trust the blobs (our own workers)

    async def _encode_one(self, payload: Payload) -> Payload:
        if payload.ByteSize() <= self.threshold:
            return payload
        raw = payload.SerializeToString()
        # zlib releases the GIL: big payloads compress off the event loop.
        blob = (
            await asyncio.to_thread(zlib.compress, raw, 6)
            if len(raw) > OFF_LOOP
            else (zlib.compress(raw, 6))
        )
        digest = await self.store.put_async(blob)
        return Payload(metadata={"encoding": ENCODING}, data=digest.encode())

    async def _decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        blob = await self.store.get_async(payload.data.decode())
        if len(blob) > OFF_LOOP // 4:
            raw = await asyncio.to_thread(inflate, blob, self.max_decoded_bytes)
        else:
            raw = inflate(blob, self.max_decoded_bytes)
        decoded = Payload()
        decoded.ParseFromString(raw)
        return decoded

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if all(p.ByteSize() <= self.threshold for p in payloads):
            return list(payloads)
        return list(await asyncio.gather(*(self._encode_one(p) for p in payloads)))

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if all(p.metadata.get("encoding") != ENCODING for p in payloads):
            return list(payloads)
        return list(await asyncio.gather(*(self._decode_one(p) for p in payloads)))
