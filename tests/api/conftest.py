"""Fixtures for the HTTP API: a real uvicorn on a free loopback port, in this process (with an
in-process research worker) or as a `deepresearch api` subprocess."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import CLI, REPO, Stack
from tests.processes import wait_http
from workers.api import create_app
from workers.config import Settings
from workers.hosting.devserver import free_port


@dataclass
class Api:
    url: str
    http: httpx.AsyncClient
    settings: Settings


def settings_of(stack: Stack, **extra: str) -> Settings:
    return Settings(**{**stack.env, **extra})


async def serve(
    settings: Settings, worker: bool = True
) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    port = free_port()
    app = create_app(settings, worker=worker, events_interval=0.1)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        assert not task.done(), "uvicorn exited at start-up"
        assert time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[Api]:
    """The API (no keys, loopback) with an in-process worker, over the stack's fakes."""
    settings = settings_of(stack)
    async for url, _ in serve(settings):
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            yield Api(url, http, settings)


async def sse_events(
    http: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None, stop: int = 10_000
) -> list[dict[str, Any]]:
    """Read a server-sent event stream to its end (or `stop` events): id, event, data."""
    events: list[dict[str, Any]] = []
    async with http.stream("GET", path, headers=headers or {}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, Any] = {}
        async for line in response.aiter_lines():
            if line == "":
                if "event" in current:
                    events.append(current)
                    if len(events) >= stop:
                        break
                current = {}
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                current[field] = json.loads(value) if field == "data" else value
    return events


class ApiProcess:
    """`deepresearch api` as a subprocess (kill -9 it like a crashed machine)."""

    def __init__(self, stack: Stack, *args: str, host: str = "127.0.0.1", **env: str) -> None:
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.log = stack.data_dir / f"api-{self.port}.log"
        log = open(self.log, "ab")  # noqa: SIM115 - the child's
        self.process = subprocess.Popen(
            [*CLI, "api", "--host", host, "--port", str(self.port), *args],
            env={**stack.env, **env},
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> ApiProcess:
        if wait_http(f"{self.url}/healthz", self.process, timeout):
            return self
        assert self.process.poll() is None, "the API process exited"
        raise AssertionError("the API never became healthy")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def api_process(stack: Stack) -> Iterator[list[ApiProcess]]:
    """Started API subprocesses, stopped at the end of the test."""
    started: list[ApiProcess] = []
    yield started
    for process in started:
        process.stop()
