"""Benchmark scores over repeated rollouts, defined as the reference evaluation defines them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel
from rich.table import Table

# Definitions follow evaluation/evaluate_deepsearch_official.py of Alibaba-NLP/DeepResearch
# (commit f72f75d8c3eb842f2bbbab096a12206ff66e270f), generalised from its three rounds to k:
#   Avg. Pass@3   calculate_avg_pass_at_3: mean over rounds of (correct in round / questions)
#   Best Pass@1   calculate_best_pass_at_1: max over rounds of the same ratio
#   Pass@3        calculate_pass_at_k: questions right in at least one round / questions
#   RoundN_Pass@1 round_performance: correct rows of that round / rows of that round
# where "questions" is every distinct question judged in any round. Scores are percentages
# rounded to 2 decimals, as it prints them ("Avg. Pass@3 43.4%"); per-session statistics are
# averaged per round and then over rounds, rounded to 3 (aggregate_statistics). A failed
# rollout is a row like any other (the reference writes "[Failed]" and judges it wrong), so it
# lowers every score; a question missing from a round counts as wrong in that round.


class Scored(BaseModel):
    """One judged session. `tokens` should be the model's completion tokens: the reference
    counts the tokens of assistant messages per question."""

    question_index: int
    correct: bool
    tool_calls: int = 0
    tokens: int = 0
    seconds: float = 0.0
    termination: str = "unknown"
    judge_error: bool = False  # the judge's reply stayed unreadable: left out of every score


class Summary(BaseModel):
    """Scores in percent (0-100); `per_rollout` is keyed by rollout number."""

    questions: int
    rollouts: int
    avg_pass_at_k: float
    best_pass_at_1: float
    pass_at_k: float
    per_rollout: dict[int, float]
    mean_tool_calls: float
    mean_tokens: float
    mean_tool_calls_correct: float
    mean_tokens_correct: float
    total_seconds: float
    mean_seconds: float
    terminations: dict[str, int]
    termination_freq: dict[str, float]
    judge_errors: int = 0  # sessions whose judgement could not be read (not in the scores)


def _percent(part: int, whole: int) -> float:
    return round(part / whole * 100, 2) if whole else 0.0


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def _latest(rows: list[Scored]) -> dict[int, Scored]:
    """One row per question: when a rollout holds several (a retried session), the last wins,
    as the reference's aggregation keeps the last judgement it reads for a question."""
    return {row.question_index: row for row in rows}


def summarize(records: Mapping[int, list[Scored]]) -> Summary:
    """Scores and statistics over rollouts (rollout number -> its judged sessions)."""
    if not records or not any(records.values()):
        raise ValueError("no judged sessions to summarize")
    judge_errors = sum(row.judge_error for rows in records.values() for row in rows)
    rounds = {
        k: _latest([row for row in rows if not row.judge_error])
        for k, rows in sorted(records.items())
    }
    if not any(rounds.values()):  # no reply of the judge could be read
        return Summary(
            questions=0, rollouts=len(rounds), avg_pass_at_k=0.0, best_pass_at_1=0.0,
            pass_at_k=0.0, per_rollout={k: 0.0 for k in rounds}, mean_tool_calls=0.0,
            mean_tokens=0.0, mean_tool_calls_correct=0.0, mean_tokens_correct=0.0,
            total_seconds=0.0, mean_seconds=0.0, terminations={}, termination_freq={},
            judge_errors=judge_errors,
        )  # fmt: skip
    questions = set().union(*(rows.keys() for rows in rounds.values()))
    total = len(questions)
    right = {k: sum(row.correct for row in rows.values()) for k, rows in rounds.items()}
    solved = {q for rows in rounds.values() for q, row in rows.items() if row.correct}
    per_round_stats = [rows for rows in rounds.values() if rows]
    correct_rows = [row for rows in rounds.values() for row in rows.values() if row.correct]
    every = [row for rows in rounds.values() for row in rows.values()]
    counts = Counter(row.termination for row in every)
    freq: dict[str, float] = {}
    for name in counts:
        shares = [
            sum(row.termination == name for row in rows.values()) / len(rows)
            for rows in per_round_stats
        ]
        freq[name] = round(_mean(shares), 3)
    return Summary(
        questions=total,
        rollouts=len(rounds),
        avg_pass_at_k=round(_mean(right[k] / total for k in rounds) * 100, 2),
        best_pass_at_1=round(max(right[k] / total for k in rounds) * 100, 2),
        pass_at_k=_percent(len(solved), total),
        per_rollout={k: _percent(right[k], len(rows)) for k, rows in rounds.items()},
        mean_tool_calls=round(
            _mean(_mean(r.tool_calls for r in rows.values()) for rows in per_round_stats), 3
        ),
        mean_tokens=round(
            _mean(_mean(r.tokens for r in rows.values()) for rows in per_round_stats), 3
        ),
        mean_tool_calls_correct=round(_mean(r.tool_calls for r in correct_rows), 3),
        mean_tokens_correct=round(_mean(r.tokens for r in correct_rows), 3),
        total_seconds=round(sum(r.seconds for r in every), 3),
        mean_seconds=round(_mean(r.seconds for r in every), 3),
        terminations=dict(counts.most_common()),
        termination_freq=freq,
        judge_errors=judge_errors,
    )


def render_table(summary: Summary) -> Table:
    """The scores and statistics as the reference prints them, one metric a row."""
    k = summary.rollouts
    table = Table("metric", "value", title=f"{summary.questions} questions × {k} rollouts")
    table.add_row(f"Avg. Pass@{k}", f"{summary.avg_pass_at_k:.2f}%")
    table.add_row("Best Pass@1", f"{summary.best_pass_at_1:.2f}%")
    table.add_row(f"Pass@{k}", f"{summary.pass_at_k:.2f}%")
    for rollout, score in summary.per_rollout.items():
        table.add_row(f"Pass@1 rollout {rollout}", f"{score:.2f}%")
    table.add_row("Avg. tool calls per question", f"{summary.mean_tool_calls:.2f}")
    table.add_row("  (correctly solved)", f"{summary.mean_tool_calls_correct:.2f}")
    table.add_row("Avg. tokens per question", f"{summary.mean_tokens:.2f}")
    table.add_row("  (correctly solved)", f"{summary.mean_tokens_correct:.2f}")
    table.add_row("Session time, total", f"{summary.total_seconds:.1f}s")
    table.add_row("Session time, mean", f"{summary.mean_seconds:.1f}s")
    for name, count in summary.terminations.items():
        share = summary.termination_freq.get(name, 0.0)
        table.add_row(f"termination: {name}", f"{count} ({share:.3f})")
    if summary.judge_errors:
        table.add_row("judge errors (not scored)", str(summary.judge_errors))
    return table


def write_summary(summary: Summary, path: Path) -> None:
    """Write summary.json (the reference appends its summary to summary.jsonl instead)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
