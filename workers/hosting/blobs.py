"""The deployment's blob store from settings: the one factory every process uses."""

from __future__ import annotations

from activities.blobstore import BlobStore, open_blob_store
from workers.config import Settings


def _credentials(settings: Settings) -> dict[str, str]:
    """Static S3 credentials when configured (the provider's chain otherwise)."""
    secret = settings.aws_secret_access_key
    token = settings.aws_session_token
    found = {
        "access_key_id": settings.aws_access_key_id,
        "secret_access_key": secret.get_secret_value() if secret else None,
        "token": token.get_secret_value() if token else None,
    }
    return {name: value for name, value in found.items() if value}


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
        settings.aws_access_key_id,
        settings.aws_secret_access_key,
        settings.aws_session_token,
    )
    if key not in _stores:
        _stores[key] = open_blob_store(
            settings.blob_url,
            settings.blob_dir,
            allow_http=settings.aws_allow_http,
            endpoint=settings.aws_endpoint_url,
            region=settings.aws_region,
            retry_seconds=settings.blob_retry_seconds,
            credentials=_credentials(settings),
        )
    return _stores[key]
