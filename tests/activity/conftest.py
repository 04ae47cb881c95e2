"""Fixtures for activity-level tests: a ToolContext wired to the loopback fakes over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from openai import AsyncOpenAI

from activities import context
from activities.blobstore import LocalBlobStore
from activities.context import ModelEndpoint, ToolContext
from tests.fakes import FakeJina, FakeModel, FakeSerper, FakeServer


@pytest.fixture
def model() -> Iterator[FakeModel]:
    with FakeModel() as fake:
        yield fake


@pytest.fixture
def jina() -> Iterator[FakeJina]:
    with FakeJina() as fake:
        yield fake


@pytest.fixture
def serper(jina: FakeJina) -> Iterator[FakeSerper]:
    with FakeSerper(page_base=jina.url) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
async def endpoint_for() -> AsyncIterator[Callable[..., ModelEndpoint]]:
    """Builds ModelEndpoints for a fake model server (closed at teardown)."""
    clients: list[AsyncOpenAI] = []

    def build(server: FakeServer, api_key: str = "x", timeout: float = 5) -> ModelEndpoint:
        client = AsyncOpenAI(
            base_url=server.url + "/v1", api_key=api_key, max_retries=0, timeout=timeout
        )
        clients.append(client)
        return ModelEndpoint(client, "fake-model")

    yield build
    for client in clients:
        await client.close()


@pytest.fixture
def tools(
    http: httpx.AsyncClient,
    model: FakeModel,
    serper: FakeSerper,
    jina: FakeJina,
    endpoint_for: Callable[..., ModelEndpoint],
    tmp_path: Path,
) -> ToolContext:
    endpoint = endpoint_for(model)
    return ToolContext(
        http=http,
        research_model=endpoint,
        extract_model=endpoint,
        blobs=LocalBlobStore(tmp_path / "blobs"),
        serper_url=serper.url,
        serper_key=serper.api_key,
        jina_url=jina.url,
        jina_key=jina.api_key,
        allow_loopback=True,
    )


@pytest.fixture
def install() -> Iterator[Callable[[ToolContext], ToolContext]]:
    """Install a ToolContext for node-level tests; always reset to None afterwards."""

    def _install(ctx: ToolContext) -> ToolContext:
        context.install(ctx)
        return ctx

    try:
        yield _install
    finally:
        context.install(None)


@pytest.fixture
def direct(tools: ToolContext) -> ToolContext:
    """The context without a Jina key: pages are fetched directly and guarded by netguard."""
    return replace(tools, jina_key=None)
