"""The model clients' HTTP connections, spread over several connection pools.

httpcore's pool walks all of its connections whenever a request starts or a response closes,
and probes the socket of each idle one. A worker with hundreds of sessions keeps hundreds of
connections to its model server, so one pool costs every call time proportional to them:
at 200 concurrent streams, 5.1 ms of the event loop's CPU per call through one pool against
3.4 ms through `POOLS` pools taken in turn, each walking a sixteenth of the connections
(`tests.benchmarks.model_client --concurrency 200`; a lone call costs 3.5 ms).
"""

from __future__ import annotations

import functools
import itertools
import ssl
from urllib.request import getproxies

import httpx2
from openai import DEFAULT_CONNECTION_LIMITS, DefaultAsyncHttpxClient

POOLS = 16


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), made once: a
    transport left to make its own loads the CA bundle again, ~40 ms and ~0.6 MiB a time."""
    return httpx2.create_ssl_context()


class PooledTransport(httpx2.AsyncBaseTransport):
    """`pools` HTTP transports taking requests in turn, each with the SDK's connection limits,
    all with one TLS context; a response stays with the pool that sent its request."""

    def __init__(self, pools: int) -> None:
        self._pools = [
            httpx2.AsyncHTTPTransport(verify=tls_context(), limits=DEFAULT_CONNECTION_LIMITS)
            for _ in range(pools)
        ]
        self._turns = itertools.cycle(self._pools)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await next(self._turns).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def model_http_client() -> httpx2.AsyncClient:
    """The SDK's default HTTP client on `PooledTransport`; where the environment names a
    proxy, the SDK's own client unchanged (a transport passed in would bypass the proxy)."""
    if any(scheme != "no" for scheme in getproxies()):  # NO_PROXY alone names no proxy
        return DefaultAsyncHttpxClient()
    return DefaultAsyncHttpxClient(transport=PooledTransport(POOLS))
