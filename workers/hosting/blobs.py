"""The deployment's blob store from settings: the one factory every process uses."""

from __future__ import annotations

from activities.blobstore import BlobStore, open_blob_store
from workers.config import Settings

_stores: dict[tuple[object, ...], BlobStore] = {}


def blob_store(settings: Settings) -> BlobStore:
    """The deployment's blob store (DEEPRESEARCH_BLOB_URL, else DATA_DIR/blobs): one instance per
    process and configuration, so its connection pool is shared by the codec and the tools."""
    key = (
        settings.blob_url,
        settings.blob_dir,
        settings.aws_allow_http,
        settings.aws_endpoint_url,
        settings.aws_region,
        settings.blob_retry_seconds,
    )
    if key not in _stores:
        _stores[key] = open_blob_store(
            settings.blob_url,
            settings.blob_dir,
            allow_http=settings.aws_allow_http,
            endpoint=settings.aws_endpoint_url,
            region=settings.aws_region,
            retry_seconds=settings.blob_retry_seconds,
        )
    return _stores[key]
