"""Settings for a benchmark's in-process worker, pointed at its loopback fakes."""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakes import FakeJina, FakeModel, FakeSerper
from workers.config import Settings


def fake_settings(
    model: FakeModel, serper: FakeSerper, jina: FakeJina, data_dir: str, **extra: Any
) -> Settings:
    """A fresh task queue each time, loopback allowed (the fakes live there)."""
    return Settings(
        OPENAI_BASE_URL=f"{model.url}/v1",
        DEEPRESEARCH_MODEL="fake-model",
        SERPER_API_KEY=serper.api_key,
        SERPER_BASE_URL=serper.url,
        JINA_API_KEY=jina.api_key,
        JINA_BASE_URL=jina.url,
        DEEPRESEARCH_DATA_DIR=data_dir,
        DEEPRESEARCH_TASK_QUEUE=f"bench-{uuid.uuid4().hex[:6]}",
        DEEPRESEARCH_ALLOW_LOOPBACK=True,
        **extra,
    )
