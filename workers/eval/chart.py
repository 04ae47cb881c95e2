"""The chart of an evaluation run: accuracy and cost side by side (chart.png)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on workers and CI

import matplotlib.pyplot as plt  # noqa: E402

from workers.eval.metrics import Summary  # noqa: E402


def write_chart(summary: Summary, benchmark: str, path: Path) -> None:
    """Avg Pass@k / Best Pass@1 / Pass@k, and mean tool calls and tokens per session."""
    figure, (accuracy, cost) = plt.subplots(1, 2, figsize=(9, 3.6))
    k = summary.rollouts
    labels = [f"Avg Pass@{k}", "Best Pass@1", f"Pass@{k}"]
    values = [summary.avg_pass_at_k, summary.best_pass_at_1, summary.pass_at_k]
    bars = accuracy.bar(labels, values, color=["#4C72B0", "#55A868", "#C44E52"])
    accuracy.bar_label(bars, fmt="%.1f")
    accuracy.set_ylim(0, 100)
    accuracy.set_ylabel("% of questions")
    accuracy.set_title(f"{benchmark}: accuracy ({summary.questions} questions)")
    tools = cost.bar(["tool calls"], [summary.mean_tool_calls], color="#8172B2")
    cost.bar_label(tools, fmt="%.1f")
    cost.set_ylabel("per session")
    tokens_axis = cost.twinx()
    tokens = tokens_axis.bar(["tokens (k)"], [summary.mean_tokens / 1000], color="#937860")
    tokens_axis.bar_label(tokens, fmt="%.3g")
    tokens_axis.set_ylabel("thousand tokens per session")
    cost.set_title(f"cost, {summary.mean_seconds:.0f} s per session")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
