"""The HTTP API's cost, against reading the same state through the Python session layer
directly, in the same run (a dev server, loopback fakes, an in-process worker, and
`deepresearch api` as a subprocess on loopback):

    .venv/bin/python -m tests.benchmarks.api [--requests 200] [--clients 100] [--steps 6]

1. Added latency per request: GET /v1/sessions/{id} and /timeline of a finished session vs
   `session_view` and `Sessions.timeline` (median and p95 over --requests sequential calls).
2. SSE fan-out: --clients listeners on one live session (events endpoint) vs as many direct
   `session_events` iterators; the lag from a step finishing (its history time) to a listener
   receiving it, median and p95. Then the same for a finished session: wall time for every
   listener to read the whole stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.benchmarks.overhead import script
from tests.benchmarks.settings import fake_settings
from tests.fakes import FakeJina, FakeModel, FakeSerper, fake_env
from tests.processes import DevServer
from workers.client import AskOptions, Sessions, session_events, session_view
from workers.hosting.devserver import free_port
from workers.hosting.research_worker import research_worker

QUESTION = "benchmark question"
REPO = Path(__file__).resolve().parents[2]


def quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def finished_at(step: dict[str, Any]) -> float:
    return datetime.fromisoformat(step["finished_at"].rstrip("Z") + "+00:00").timestamp()


async def timed(calls: int, call: Any) -> list[float]:
    samples = []
    for _ in range(calls):
        began = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


async def read_sse(http: httpx.AsyncClient, path: str, lags: list[float]) -> None:
    async with http.stream("GET", path) as response:
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "step":
                lags.append(time.time() - finished_at(json.loads(line[6:])))
            elif line.startswith("data: ") and kind in ("result", "failed"):
                return


async def read_direct(sessions: Sessions, session_id: str, lags: list[float]) -> None:
    async for event in session_events(sessions, session_id, interval=0.5):
        if event.kind == "step":
            lags.append(time.time() - finished_at(event.data))


async def fan_out(
    sessions: Sessions, http: httpx.AsyncClient, clients: int, session_id: str, via_api: bool
) -> tuple[list[float], float]:
    lags: list[float] = []
    began = time.perf_counter()
    if via_api:
        path = f"/v1/sessions/{session_id}/events"
        await asyncio.gather(*(read_sse(http, path, lags) for _ in range(clients)))
    else:
        await asyncio.gather(*(read_direct(sessions, session_id, lags) for _ in range(clients)))
    return lags, time.perf_counter() - began


async def main(requests: int, clients: int, steps: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    server = DevServer(work / "temporal.db").start()
    with FakeJina() as jina, FakeModel() as model, FakeSerper(page_base=jina.url) as serper:
        model.scripts[QUESTION] = script(steps, jina.url)
        serper.latency = jina.latency = 0.5  # a step every half second or so
        settings = fake_settings(model, serper, jina, str(work / "data"),
                                 TEMPORAL_ADDRESS=server.address)  # fmt: skip
        env = {
            **os.environ,
            **fake_env(model, serper, jina),
            "TEMPORAL_ADDRESS": server.address,
            "DEEPRESEARCH_DATA_DIR": str(work / "data"),
            "DEEPRESEARCH_TASK_QUEUE": settings.task_queue,
            "PYTHONPATH": str(REPO),
        }
        port = free_port()
        log = open(work / "api.log", "wb")  # noqa: SIM115 - the child's
        api = subprocess.Popen([sys.executable, "-m", "workers.cli", "api", "--port", str(port)],
                               env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        sessions = await Sessions.connect(settings)
        limits = httpx.Limits(max_connections=clients * 2 + 10)
        url = f"http://127.0.0.1:{port}"
        try:
            async with (
                research_worker(settings, sessions.client),
                httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http,
            ):
                for _ in range(300):
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
                await report_latency(sessions, http, requests)
                await report_fan_out(sessions, http, clients)
        finally:
            api.terminate()
            api.wait(30)
            server.stop()


async def report_latency(sessions: Sessions, http: httpx.AsyncClient, requests: int) -> None:
    started = await sessions.start(AskOptions(question=QUESTION), "bench-api-latency")
    await sessions.result(started.session_id)
    sid = started.session_id
    print(f"1. added latency per request ({requests} sequential calls, finished session)")
    for name, direct, over_http in [
        ("view", lambda: session_view(sessions, sid), lambda: http.get(f"/v1/sessions/{sid}")),
        ("timeline", lambda: sessions.timeline(sid),
         lambda: http.get(f"/v1/sessions/{sid}/timeline")),
    ]:  # fmt: skip
        await timed(5, direct)  # warm both
        await timed(5, over_http)
        base = quantiles(await timed(requests, direct))
        api = quantiles(await timed(requests, over_http))
        print(
            f"   {name:9s} direct median {base[0]:6.2f} ms p95 {base[1]:6.2f} · API median "
            f"{api[0]:6.2f} ms p95 {api[1]:6.2f} · added {api[0] - base[0]:+.2f} ms · "
            f"ratio {api[0] / base[0]:.2f}x"
        )


async def report_fan_out(sessions: Sessions, http: httpx.AsyncClient, clients: int) -> None:
    print(f"2. fan-out to {clients} listeners")
    results: dict[str, tuple[list[float], float]] = {}
    for via_api in (False, True):
        name = "API" if via_api else "direct"
        sid = f"bench-api-live-{name.lower()}"
        await sessions.start(AskOptions(question=QUESTION), sid)
        results[name] = await fan_out(sessions, http, clients, sid, via_api)
    for name, (lags, wall) in results.items():
        median, p95 = quantiles([lag * 1000 for lag in lags])
        print(f"   live     {name:6s} step→listener lag median {median:7.1f} ms p95 {p95:7.1f} ms "
              f"({len(lags)} deliveries, {wall:.1f} s)")  # fmt: skip
    direct_lag = statistics.median(results["direct"][0])
    api_lag = statistics.median(results["API"][0])
    print(f"   live     lag ratio API/direct {api_lag / direct_lag:.2f}x")
    walls = {}
    for via_api in (False, True):
        name = "API" if via_api else "direct"
        _, walls[name] = await fan_out(sessions, http, clients, "bench-api-live-api", via_api)
    ratio = walls["API"] / walls["direct"]
    print(f"   finished direct {walls['direct']:.2f} s · API {walls['API']:.2f} s for all "
          f"{clients} to read the whole stream · ratio {ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.clients, args.steps))
