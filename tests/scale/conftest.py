"""Fixtures of the scale tests: a real S3 API server (moto, a separate process) for the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scale.servers import S3Server, running_s3


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_s3(tmp_path_factory) as server:
        yield server
