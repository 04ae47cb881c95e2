"""The object-store backend against a real S3 API server: keys, idempotence, errors, the codec."""

from __future__ import annotations

import asyncio
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import obstore
import pytest
from obstore.store import from_url
from temporalio.api.common.v1 import Payload

from activities.blobstore import BlobStoreError, LocalBlobStore, digest_of, open_blob_store
from activities.blobstore_object import ObjectBlobStore
from activities.claimcheck import ENCODING, ClaimCheckCodec
from activities.errors import ConfigurationError
from tests.activity.test_act_blobs import check_streamed_uploads
from tests.scale.servers import S3Server, TcpProxy


def store_for(s3: S3Server, endpoint: str | None = None, **options: float) -> ObjectBlobStore:
    bucket = s3.create_bucket()
    return ObjectBlobStore(
        f"s3://{bucket}/team/blobs",
        allow_http=True,
        endpoint=endpoint or s3.url,
        region="us-east-1",
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard variables obstore's credential chain reads (moto takes any key)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def test_put_get_and_key_layout(s3: S3Server) -> None:
    store = store_for(s3)
    data = "página — 页面 \x00".encode()
    digest = store.put(data)
    assert digest == digest_of(data)
    assert store.get(digest) == data
    # The same layout as the directory backend, under the URL's prefix.
    hexdigest = digest.removeprefix("sha256:")
    bucket = store.location.split("/")[2]
    root = from_url(f"s3://{bucket}", endpoint=s3.url, client_options={"allow_http": True})
    key = f"team/blobs/sha256/{hexdigest[:2]}/{hexdigest[2:]}"
    assert bytes(obstore.get(root, key).bytes()) == data


def test_streamed_uploads_and_their_quota_count(s3: S3Server) -> None:
    check_streamed_uploads(store_for(s3))


async def test_async_roundtrip_idempotent_and_listed(s3: S3Server) -> None:
    store = store_for(s3)
    digests = await asyncio.gather(*(store.put_async(b"blob %d" % i) for i in range(20)))
    assert await store.put_async(b"blob 3") == digests[3]  # idempotent: same key, same bytes
    assert [await store.get_async(d) for d in digests[:3]] == [b"blob 0", b"blob 1", b"blob 2"]
    listed = {info.digest: info for info in store.scan()}
    assert set(listed) == set(digests)
    assert listed[digests[0]].size == len(b"blob 0")
    assert abs(listed[digests[0]].modified - datetime.now(UTC)) < timedelta(minutes=5)


def test_missing_blob_and_bad_digest(s3: S3Server) -> None:
    store = store_for(s3)
    with pytest.raises(KeyError, match="is not in s3://"):
        store.get("sha256:" + "ab" * 32)
    with pytest.raises(ValueError, match="not a blob digest"):
        store.get("sha256:../../etc/passwd")


def test_delete_spares_blobs_written_after_the_cutoff(s3: S3Server) -> None:
    store = store_for(s3)
    digest = store.put(b"old")
    past = datetime.now(UTC) - timedelta(hours=1)
    assert not store.delete(digest, unless_modified_after=past)  # written after the cutoff
    assert store.get(digest) == b"old"
    assert store.delete(digest, unless_modified_after=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(KeyError):
        store.get(digest)
    assert not store.delete(digest, unless_modified_after=datetime.now(UTC))  # already gone


async def test_codec_claim_checks_into_the_bucket(s3: S3Server) -> None:
    store = store_for(s3)
    codec = ClaimCheckCodec(store)
    big = Payload(metadata={"encoding": b"json/plain"}, data=b'"' + b"x" * 50_000 + b'"')
    small = Payload(metadata={"encoding": b"json/plain"}, data=b'"hi"')
    encoded = await codec.encode([big, small])
    assert encoded[0].metadata["encoding"] == ENCODING and encoded[1] == small
    digest = encoded[0].data.decode()
    assert zlib.decompress(store.get(digest)) == big.SerializeToString()
    assert await codec.decode(encoded) == [big, small]


async def test_missing_bucket_is_one_line(s3: S3Server) -> None:
    store = ObjectBlobStore(
        "s3://no-such-bucket-here/x", allow_http=True, endpoint=s3.url, region="us-east-1"
    )
    with pytest.raises(BlobStoreError) as caught:
        await store.check()
    message = str(caught.value)
    assert message == (
        "blob store s3://no-such-bucket-here/x: the bucket does not exist (create it, or fix "
        "DEEPRESEARCH_BLOB_URL)"
    )


async def test_unreachable_store_is_one_line_and_fails_fast(s3: S3Server) -> None:
    store = store_for(s3, endpoint="http://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(BlobStoreError) as caught:
        await store.check()
    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert message.startswith(f"blob store {store.location} is unreachable at http://127.0.0.1:9")
    assert message.endswith("check AWS_ENDPOINT_URL and the network")
    assert "\n" not in message


async def test_codec_waits_out_a_short_outage(s3: S3Server) -> None:
    """Requests retry with backoff: a put during a 2 s outage completes once the store is back."""
    proxy = TcpProxy(s3.port).start()
    try:
        store = store_for(s3, endpoint=proxy.url, retry_seconds=30)
        await store.put_async(b"warm the connection pool")
        proxy.stop()
        put = asyncio.create_task(store.put_async(b"during the outage"))
        await asyncio.sleep(2)
        assert not put.done()
        proxy.start()
        digest = await asyncio.wait_for(put, 20)
        assert await store.get_async(digest) == b"during the outage"
    finally:
        proxy.stop()


async def test_wrong_credentials_are_one_line(tmp_path: Path) -> None:
    """moto enforcing IAM: an unknown access key is refused, and said so in one line."""
    strict = S3Server(tmp_path / "moto-auth.log", INITIAL_NO_AUTH_ACTION_COUNT="1").start()
    try:
        bucket = strict.create_bucket()  # the one unauthenticated action
        store = ObjectBlobStore(
            f"s3://{bucket}/p", allow_http=True, endpoint=strict.url, region="us-east-1"
        )
        with pytest.raises(BlobStoreError) as caught:
            await store.check()
    finally:
        strict.stop()
    message = str(caught.value)
    assert message.startswith(f"blob store s3://{bucket}/p refused the credentials (")
    assert "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in message
    assert "testing" not in message and "\n" not in message


@pytest.mark.parametrize("url", ["http://example.com/x", "file:///tmp/x", "s3://", "bucket/x"])
def test_bad_url_is_a_configuration_error(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="DEEPRESEARCH_BLOB_URL"):
        open_blob_store(url, tmp_path)


def test_no_url_is_the_directory(tmp_path: Path) -> None:
    store = open_blob_store(None, tmp_path / "blobs")
    assert isinstance(store, LocalBlobStore) and store.location == str(tmp_path / "blobs")
