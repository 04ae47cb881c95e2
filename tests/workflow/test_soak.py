"""The soak benchmark, small: 5 sessions, 30% tool faults, a worker SIGKILL and a dev-server
SIGKILL + restart mid-run (the full one: `python -m tests.benchmarks.soak`)."""

from __future__ import annotations

from tests.benchmarks.soak import soak


async def test_small_soak() -> None:
    result = await soak(sessions=5, fault_rate=0.3, timeout=300)
    print(result.line())
    assert result.completed == result.started == 5
    assert result.same_as_baseline == 5
    assert result.executed_twice == 0
    # both kills (the worker's, then the server's) landed while sessions were still running
    assert len(result.unfinished_at_kills) == 2, result.unfinished_at_kills
    assert all(count > 0 for count in result.unfinished_at_kills), result.unfinished_at_kills
