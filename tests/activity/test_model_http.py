"""The model client's connections spread over several pools (workers/hosting/model_http.py),
and a proxy from the environment still used."""

from __future__ import annotations

import asyncio

import pytest

from activities.context import ModelEndpoint
from activities.llm import chat
from graphs.state import Sampling
from tests.activity.helpers import StaticServer
from tests.fakes import FakeModel, Response
from workers.hosting import model_http
from workers.hosting.research_worker import model_client

QUESTION = "Which element has atomic number 79?"
ANSWER = "<think>\nGold is element 79.\n</think>\n<answer>Gold</answer>"


@pytest.fixture(autouse=True)
def no_proxy_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def test_concurrent_calls_take_the_pools_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_http, "POOLS", 4)
    with FakeModel(scripts={QUESTION: [ANSWER] * 8}) as model:
        model.latency = 0.3  # all eight are open at once
        client = model_client(f"{model.url}/v1", "x", 10)
        endpoint = ModelEndpoint(client, "fake-model")
        user = [{"role": "user", "content": QUESTION}]
        results = await asyncio.gather(*(chat(endpoint, user, Sampling()) for _ in range(8)))
        transport = client._client._transport  # the SDK's httpx client, then its transport
        assert isinstance(transport, model_http.PooledTransport)
        # httpx's transport keeps its httpcore pool private; two connections in each
        assert [len(pool._pool.connections) for pool in transport._pools] == [2, 2, 2, 2]
        # one TLS context for every pool and client (each costs a CA bundle load)
        other = model_client(f"{model.url}/v1", "x", 10)._client._transport
        contexts = {id(pool._pool._ssl_context) for t in (transport, other) for pool in t._pools}
        assert contexts == {id(model_http.tls_context())}
        await client.close()
    assert [result.text for result in results] == [ANSWER] * 8
    assert len(model.research_requests()) == 8


async def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    with StaticServer(lambda *_: Response.json({"error": "proxy says no"}, status=502)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        client = model_client("http://model.invalid/v1", "x", 10)
        with pytest.raises(Exception, match="502"):
            await client.models.list()
        await client.close()
    (request,) = proxy.records()
    assert request.path == "http://model.invalid/v1/models"  # sent to the proxy, absolute
