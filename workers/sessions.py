"""What a client adds to a new session: uploaded files, and the stamp of this deployment."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from activities.blobstore import BlobStore
from workers import search_attributes
from workers.config import Settings
from workers.models import HistoryBudget, ResearchInput

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


def upload_files(store: BlobStore, paths: list[Path]) -> dict[str, str]:
    """Files for the parse_file tool go to the blob store; the session gets names and digests.
    Raises ValueError with a one-line message for a file that cannot be uploaded."""
    files: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
        if path.name in files:
            raise ValueError(f"two files are named {path.name!r}; rename one")
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise ValueError(f"{path} is larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
        try:
            files[path.name] = store.put(path.read_bytes())
        except OSError as error:
            raise ValueError(f"cannot read {path}: {error.strerror}") from None
    return files


async def stamp(client: Client, settings: Settings, request: ResearchInput) -> ResearchInput:
    """The model name, dialect and history budget of this deployment, and whether the server
    indexes our search attributes."""
    indexed = await search_attributes.ensure_registered(client)
    budget = HistoryBudget(events=settings.history_events, bytes=settings.history_bytes)
    update = {
        "indexed": indexed,
        "model": settings.model or "",
        "history": budget,
        "protocol": settings.protocol,
        "heartbeat_seconds": settings.heartbeat_seconds,
    }
    return request.model_copy(update=update)
