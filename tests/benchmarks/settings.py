"""Settings for a benchmark's in-process worker, pointed at its loopback fakes."""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakes import FakeJina, FakeModel, FakeSerper, fake_env
from workers.config import Settings


def fake_settings(
    model: FakeModel, serper: FakeSerper, jina: FakeJina, data_dir: str, **extra: Any
) -> Settings:
    """A fresh task queue each time, loopback allowed (the fakes live there)."""
    return Settings(
        **fake_env(model, serper, jina),
        DEEPRESEARCH_DATA_DIR=data_dir,
        DEEPRESEARCH_TASK_QUEUE=f"bench-{uuid.uuid4().hex[:6]}",
        **extra,
    )
