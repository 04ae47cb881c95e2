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


class ClaimCheckCodec(PayloadCodec):
    """Keeps history small: a 100K-token conversation is stored once, history holds 71 bytes."""

    def __init__(self, store: BlobStore, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.store = store
        self.threshold = threshold

    def _encode_one(self, payload: Payload) -> Payload:
        if payload.ByteSize() <= self.threshold:
            return payload
        digest = self.store.put(zlib.compress(payload.SerializeToString(), 6))
        return Payload(metadata={"encoding": ENCODING}, data=digest.encode())

    def _decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        decoded = Payload()
        decoded.ParseFromString(zlib.decompress(self.store.get(payload.data.decode())))
        return decoded

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if all(p.ByteSize() <= self.threshold for p in payloads):
            return list(payloads)
        return await asyncio.to_thread(lambda: [self._encode_one(p) for p in payloads])

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if all(p.metadata.get("encoding") != ENCODING for p in payloads):
            return list(payloads)
        return await asyncio.to_thread(lambda: [self._decode_one(p) for p in payloads])
