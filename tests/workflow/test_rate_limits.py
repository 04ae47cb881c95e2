"""DEEPRESEARCH_RATE_LIMITS holds across the cluster: with `serper=2` and two worker processes,
ten sessions of two searches each never send the search provider more than 2 requests a second
(Temporal enforces the rate of the provider's own task queue), and every session completes."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client

from tests.conftest import Stack
from tests.workflow.test_session import call
from workers.client import AskOptions, Sessions
from workers.config import Settings, load_settings

pytestmark = pytest.mark.slow
SESSIONS = 10


async def test_search_rate_holds_across_two_workers(stack: Stack, temporal_address: str) -> None:
    questions = [f"Rate question {i}: what do newts eat?" for i in range(SESSIONS)]
    for i, question in enumerate(questions):
        stack.script(
            question,
            [
                call("search", {"query": [f"newts {i} a"]}),
                call("search", {"query": [f"newts {i} b"]}),
                f"<answer>insects {i}</answer>",
            ],
        )
    limited = {"DEEPRESEARCH_RATE_LIMITS": "serper=2"}
    workers = [stack.spawn_worker(f"worker-{n}.log", **limited) for n in (1, 2)]
    try:
        sessions = await Sessions.connect(Settings(**{**stack.env, **limited}))
        for i, question in enumerate(questions):
            await sessions.start(AskOptions(question=question), f"rate-{i}")
        client = await Client.connect(temporal_address)
        reports = await asyncio.wait_for(
            asyncio.gather(
                *(client.get_workflow_handle(f"rate-{i}").result() for i in range(SESSIONS))
            ),
            timeout=240,
        )
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(30)
    assert [r["answer"] for r in reports] == [f"insects {i}" for i in range(SESSIONS)]
    times = sorted(r.at for r in stack.serper.requests if r.path.startswith("/search"))
    assert len(times) == 2 * SESSIONS

    def busiest(starts: list[float]) -> int:
        return max(sum(1 for t in times if start <= t < start + 1.0) for start in starts)

    # The server's token bucket starts full: the first second may take a burst of about one
    # second's worth on top (5 seen: 3 at once, then 2 a second); from then on it holds at 2 a
    # second, plus one of slack for a window that straddles a refill.
    settled = [t for t in times if t >= times[0] + 1.0]
    shown = [round(t - times[0], 2) for t in times]
    assert busiest(times) <= 5, shown
    assert busiest(settled) <= 3, shown
    span = times[-1] - times[0]
    assert span >= (2 * SESSIONS - 5) / 2, shown  # 20 requests at 2 a second after the burst
    print(
        f"20 searches over {span:.1f} s; at most {busiest(settled)} in any second after the "
        f"first, {busiest(times)} in the first: {shown}"
    )


def test_bad_rate_limits_are_one_line(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    for value, reason in [
        ("serper=0", "serper: give requests per second, a number above 0 (got '0')"),
        ("serper=fast", "serper: give requests per second, a number above 0 (got 'fast')"),
        ("bing=3", "unknown provider 'bing': use serper, jina"),
        ("jina=inf", "jina: give requests per second, a number above 0 (got 'inf')"),
    ]:
        monkeypatch.setenv("DEEPRESEARCH_RATE_LIMITS", value)
        with pytest.raises(Exception, match="invalid setting DEEPRESEARCH_RATE_LIMITS") as caught:
            load_settings()
        assert str(caught.value) == f"invalid setting DEEPRESEARCH_RATE_LIMITS: {reason}"
    result = stack.cli("worker", DEEPRESEARCH_RATE_LIMITS="serper=-1", timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: invalid setting DEEPRESEARCH_RATE_LIMITS: serper:")
    )
