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


def write_replay_chart(rows: list[dict[str, object]], path: Path) -> None:
    """Per question and rollout of a replay: its score delta against the run it replays (+1
    now correct, -1 now wrong, 0 the same or unjudged) and its token delta."""
    labels = [f"q{row['index']} r{row['rollout']}" for row in rows]

    def delta(row: dict[str, object], before: str, after: str) -> float:
        was, now = row.get(before), row.get(after)
        if was is None or now is None:
            return 0.0
        return float(now) - float(was)  # type: ignore[arg-type]

    scores = [delta(row, "correct_before", "correct_after") for row in rows]
    tokens = [delta(row, "tokens_before", "tokens_after") / 1000 for row in rows]
    figure, (score_axis, token_axis) = plt.subplots(1, 2, figsize=(9, 3.6))
    colors = ["#55A868" if s > 0 else "#C44E52" if s < 0 else "#8C8C8C" for s in scores]
    score_axis.bar(labels, scores, color=colors)
    score_axis.set_ylim(-1.2, 1.2)
    score_axis.axhline(0, color="#333333", linewidth=0.8)
    score_axis.set_title("score: replay - replayed")
    token_axis.bar(labels, tokens, color="#937860")
    token_axis.axhline(0, color="#333333", linewidth=0.8)
    token_axis.set_title("thousand tokens: replay - replayed")
    for axis in (score_axis, token_axis):
        axis.tick_params(axis="x", labelrotation=60, labelsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
