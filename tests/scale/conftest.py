"""Fixtures of the scale tests: a real S3 API server (moto, a separate process) for the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scale.servers import S3Server


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()
