"""Scaling curve: 50 to 1,000 concurrent sessions on one host, as numbers and a chart.

    .venv/bin/python -m tests.benchmarks.curve [--sessions 50,100,200,500,1000]
        [--model-latency 1.0] [--chart docs/scaling.png]

Runs `tests.benchmarks.concurrency --json` once per session count, each in a process of its own
(a fresh dev server, the fakes in their own process, one research worker), so each count's peak
RSS is its own. Prints one row per count: sessions that failed or ended without an answer, wall
time against the model-latency floor measured in the same run, sessions per minute, p50/p95 of
a step and of the gap between steps, retried activities, CPU seconds and peak RSS of the worker,
the dev server and the fakes (and their sum); then draws the chart.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def measure(sessions: int, latency: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "tests.benchmarks.concurrency", "--sessions", str(sessions),
               "--model-latency", str(latency), "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{sessions} sessions: no result (rc {done.returncode}):\n{done.stderr}")
    return json.loads(lines[-1])


def row(result: dict[str, Any]) -> str:
    peaks = result["peak_rss_mib"]
    cpu = result["cpu_s"]
    return (
        f"| {result['sessions']} | {result['failed']} | {result['floor_s']:.1f} s "
        f"| {result['durable_s']:.1f} s | {result['ratio']:.2f} "
        f"| {result['sessions_per_min']:.0f} "
        f"| {result['step_s'][0]:.2f} / {result['step_s'][1]:.2f} s "
        f"| {result['between_steps_s'][0]:.2f} / {result['between_steps_s'][1]:.2f} s "
        f"| {result['retried']} "
        f"| {cpu.get('worker process', 0):.0f} / {cpu.get('dev server', 0):.0f} s "
        f"| {peaks.get('worker process', 0):.0f} / {peaks.get('dev server', 0):.0f} / "
        f"{peaks.get('fakes process', 0):.0f} MiB, {sum(peaks.values()):.0f} MiB |"
    )


HEADER = (
    "| sessions | failed | floor | durable | ratio | sessions/min | step p50 / p95 "
    "| between steps p50 / p95 | retried | CPU worker / dev server "
    "| peak RSS worker / dev server / fakes, sum |\n" + "|---" * 11 + "|"
)


def chart(results: list[dict[str, Any]], path: Path) -> None:
    """Wall time and floor against sessions (left), ratio and between-step p50 (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [r["sessions"] for r in results]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(counts, [r["durable_s"] for r in results], "o-", label="durable (one worker)")
    left.plot(counts, [r["floor_s"] for r in results], "s--", label="model-latency floor")
    left.set(xlabel="concurrent sessions", ylabel="wall time (s)", title="Wall time")
    left.legend()
    right.plot(counts, [r["ratio"] for r in results], "o-", color="C3", label="durable / floor")
    right.axhline(1.5, color="grey", linestyle=":", label="goal 1.5x")
    right.set(xlabel="concurrent sessions", ylabel="ratio", title="Cost over the floor")
    gaps = right.twinx()
    gaps.plot(counts, [r["between_steps_s"][0] for r in results], "^-", color="C2",
              label="between steps p50 (s)")  # fmt: skip
    gaps.set_ylabel("between steps p50 (s)")
    lines = right.get_legend_handles_labels()
    more = gaps.get_legend_handles_labels()
    right.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    figure.suptitle("deepresearch on one 2-core host: 4 model calls of 1 s per session")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", default="50,100,200,500,1000")
    parser.add_argument("--model-latency", type=float, default=1.0)
    parser.add_argument("--chart", type=Path, default=Path("docs/scaling.png"))
    args = parser.parse_args()
    results = []
    print(HEADER, flush=True)
    for sessions in [int(n) for n in args.sessions.split(",")]:
        results.append(measure(sessions, args.model_latency))
        print(row(results[-1]), flush=True)
    chart(results, args.chart)
    print(f"chart: {args.chart}")


if __name__ == "__main__":
    main()
