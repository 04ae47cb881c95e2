"""Content-addressed blob store and the claim-check payload codec."""

from __future__ import annotations

import hashlib
import re
import tempfile
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from activities.blobstore import BlobStore, LocalBlobStore, digest_of
from activities.claimcheck import (
    DEFAULT_THRESHOLD,
    ENCODING,
    ClaimCheckCodec,
    DecodedTooLarge,
    inflate,
)

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_put_get_roundtrip(store: LocalBlobStore) -> None:
    data = "página — 页面 \x00 bytes".encode()
    digest = store.put(data)
    assert DIGEST.match(digest)
    assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert store.get(digest) == data
    hexdigest = digest.removeprefix("sha256:")
    assert (store.root / "sha256" / hexdigest[:2] / hexdigest[2:]).read_bytes() == data


def test_put_is_idempotent_and_leaves_no_temp_files(store: LocalBlobStore) -> None:
    assert store.put(b"same") == store.put(b"same")
    assert store.put(b"") == "sha256:" + hashlib.sha256(b"").hexdigest()
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert len(files) == 2
    assert not any(p.name.startswith(".tmp-") for p in files)


def test_store_shared_between_instances(store: LocalBlobStore) -> None:
    digest = store.put(b"shared")
    assert LocalBlobStore(store.root).get(digest) == b"shared"


@pytest.mark.parametrize(
    "digest",
    [
        "md5:" + "0" * 64,
        "sha256:" + "0" * 63,
        "sha256:" + "0" * 65,
        "sha256:" + "A" * 64,  # upper case is not what put() writes
        "sha256:" + "g" * 64,
        "sha256:../../" + "0" * 58,
        "0" * 64,
        "",
    ],
)
def test_bad_digest_rejected(store: LocalBlobStore, digest: str) -> None:
    with pytest.raises(ValueError, match="not a blob digest"):
        store.get(digest)


def test_missing_blob_is_key_error(store: LocalBlobStore) -> None:
    with pytest.raises(KeyError):
        store.get("sha256:" + "ab" * 32)


# -- claim-check codec ---------------------------------------------------------------------


def _payload(size: int) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=b'"' + b"a" * size + b'"')


async def test_small_payloads_untouched(store: LocalBlobStore) -> None:
    codec = ClaimCheckCodec(store)
    small = [_payload(10), _payload(DEFAULT_THRESHOLD - 100)]
    encoded = await codec.encode(small)
    assert encoded == small
    assert await codec.decode(encoded) == small
    assert not store.root.exists()  # nothing was stored


async def test_large_payload_claim_checked(store: LocalBlobStore) -> None:
    codec = ClaimCheckCodec(store)
    small, large = _payload(5), _payload(100_000)
    encoded = await codec.encode([small, large])
    assert encoded[0] == small
    claim = encoded[1]
    assert claim.metadata["encoding"] == b"binary/claim-check-zlib" == ENCODING
    assert DIGEST.match(claim.data.decode())
    assert claim.ByteSize() < 120
    # The blob is the zlib-compressed serialized payload.
    assert zlib.decompress(store.get(claim.data.decode())) == large.SerializeToString()
    decoded = await codec.decode(encoded)
    assert decoded == [small, large]
    assert decoded[1].SerializeToString() == large.SerializeToString()


async def test_threshold_boundary(store: LocalBlobStore) -> None:
    codec = ClaimCheckCodec(store, threshold=200)
    at = next(p for n in range(300) if (p := _payload(n)).ByteSize() == 200)
    over = next(p for n in range(300) if (p := _payload(n)).ByteSize() == 201)
    encoded = await codec.encode([at, over])
    assert encoded[0] == at
    assert encoded[1].metadata["encoding"] == ENCODING


async def test_decode_missing_blob_raises(store: LocalBlobStore) -> None:
    codec = ClaimCheckCodec(store)
    claim = Payload(metadata={"encoding": ENCODING}, data=("sha256:" + "cd" * 32).encode())
    with pytest.raises(KeyError):
        await codec.decode([claim])


async def test_codec_in_data_converter(store: LocalBlobStore) -> None:
    converter = DataConverter(payload_codec=ClaimCheckCodec(store))
    value = {"messages": ["x" * 50_000, "短"], "n": 3}
    payloads = await converter.encode([value, "tiny"])
    assert payloads[0].metadata["encoding"] == ENCODING
    assert payloads[1].metadata["encoding"] == b"json/plain"
    assert await converter.decode(payloads, [dict, str]) == [value, "tiny"]


def check_streamed_uploads(store: BlobStore) -> None:
    """put_file stores a file read in chunks under the digest `put` would give; uploads are
    counted once per digest and stop counting when gc deletes the blob."""
    data = bytes(range(256)) * (3 * 4096 + 7)  # three chunks and a bit
    with tempfile.TemporaryFile() as handle:
        handle.write(data)
        handle.seek(0)
        digest = store.put_file(handle)  # type: ignore[arg-type]
    assert digest == digest_of(data) and store.get(digest) == data
    assert store.uploaded_bytes() == 0
    store.record_upload(digest, len(data))
    store.record_upload(digest, len(data))  # the same file uploaded again
    small = store.put(b"notes")
    store.record_upload(small, 5)
    assert store.uploaded_bytes() == len(data) + 5
    assert {info.digest for info in store.scan()} == {digest, small}  # markers are no blobs
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert store.delete(digest, unless_modified_after=later)
    assert store.uploaded_bytes() == 5


def test_streamed_uploads_and_their_quota_count(store: LocalBlobStore) -> None:
    check_streamed_uploads(store)
    assert not [p for p in store.root.iterdir() if p.name.startswith(".tmp-")]


def test_inflate_stops_at_its_limit() -> None:
    """The codec's bound on what a payload may inflate to (a zip bomb in a history): exactly
    the limit passes, one byte more is refused, and a cut stream is an error."""
    data = zlib.compress(b"a" * 1000)
    assert inflate(data, None) == b"a" * 1000
    assert inflate(data, 1000) == b"a" * 1000
    with pytest.raises(DecodedTooLarge) as caught:
        inflate(data, 999)
    assert caught.value.limit == 999
    with pytest.raises(zlib.error, match="^truncated zlib stream$"):
        inflate(data[:-4], 5000)


def test_inflate_refuses_a_bomb_without_inflating_it() -> None:
    """64 MiB of zeros compress to 64 KiB; refused at a 1 MiB limit, the refusal must cost
    about the limit in memory, not the bomb's size (zlib told to stop at limit + 1 bytes)."""
    bomb = zlib.compress(bytes(64 << 20), 9)
    tracemalloc.start()
    try:
        with pytest.raises(DecodedTooLarge):
            inflate(bomb, 1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"refusing the bomb allocated {peak >> 20} MiB"


def _incompressible(size: int) -> Payload:
    """A JSON string that zlib cannot shrink much (so its blob is large too)."""
    chunks, seed = [], b"seed"
    while sum(map(len, chunks)) < size:
        seed = hashlib.sha256(seed).digest()
        chunks.append(seed.hex().encode())
    return Payload(metadata={"encoding": b"json/plain"}, data=b'"' + b"".join(chunks)[:size] + b'"')


@pytest.mark.parametrize("make", [_payload, _incompressible])
async def test_big_payloads_round_trip_off_the_event_loop(store: LocalBlobStore, make) -> None:  # type: ignore[no-untyped-def]
    """Past OFF_LOOP bytes the codec compresses and inflates in a thread; the result is the
    same payload (a compressible one, and one whose blob is past the inflate threshold too)."""
    big = make(600 * 1024)
    encoded = await ClaimCheckCodec(store).encode([big])
    assert encoded[0].metadata["encoding"] == ENCODING
    blob = store.get(encoded[0].data.decode())
    assert zlib.decompress(blob) == big.SerializeToString()
    assert (await ClaimCheckCodec(store, max_decoded_bytes=1 << 20).decode(encoded)) == [big]


@pytest.mark.parametrize("make", [_payload, _incompressible])
async def test_the_codec_enforces_its_decoded_limit(store: LocalBlobStore, make) -> None:  # type: ignore[no-untyped-def]
    """A claim whose blob inflates past max_decoded_bytes (a bomb planted in the store) is
    refused by the codec itself, on both the in-loop and the threaded path."""
    encoded = await ClaimCheckCodec(store).encode([make(600 * 1024)])
    with pytest.raises(DecodedTooLarge) as caught:
        await ClaimCheckCodec(store, max_decoded_bytes=100_000).decode(encoded)
    assert str(caught.value) == "payload inflates past 100000 bytes"
