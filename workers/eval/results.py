"""The files an evaluation writes, in the reference's formats: iter{k}.jsonl (its trajectory
records), iter{k}_scored.jsonl (with the judge's verdicts) and summary.json, plus a chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from temporalio.client import Client

from workers.client.timeline import session_histories, tongyi_record
from workers.eval.chart import write_chart
from workers.eval.data import FAILED_PREDICTION, EvalItem
from workers.eval.metrics import Scored, Summary, summarize, write_summary
from workers.workflows.evaluation import EvalOutcome


async def write_results(
    client: Client,
    outcomes: list[EvalOutcome],
    items: list[EvalItem],
    out: Path,
    benchmark: str = "",
) -> Summary:
    """iter{k}.jsonl in the reference's record format (failed sessions as its failure record),
    iter{k}_scored.jsonl with the judge's verdicts, summary.json with the metrics."""
    by_index = {item.index: item for item in items}
    by_rollout: dict[int, list[EvalOutcome]] = {}
    for outcome in outcomes:
        by_rollout.setdefault(outcome.rollout, []).append(outcome)
    scored: dict[int, list[Scored]] = {}
    for rollout, group in sorted(by_rollout.items()):
        lines, scored_lines = [], []
        for outcome in sorted(group, key=lambda o: o.index):
            record = await _record(client, outcome, by_index[outcome.index])
            lines.append(json.dumps(record, ensure_ascii=False))
            verdict = outcome.verdict
            judged = {**record, "judgement": verdict.label if verdict else "", "correct": bool(
                verdict and verdict.correct)}  # fmt: skip
            scored_lines.append(json.dumps(judged, ensure_ascii=False))
            report = outcome.report
            scored.setdefault(rollout, []).append(
                Scored(
                    question_index=outcome.index,
                    correct=bool(verdict and verdict.correct),
                    tool_calls=report.tool_calls if report else 0,
                    tokens=report.completion_tokens if report else 0,
                    seconds=report.elapsed_seconds if report else 0.0,
                    termination=report.termination if report else "failed",
                )
            )
        (out / f"iter{rollout}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (out / f"iter{rollout}_scored.jsonl").write_text(
            "\n".join(scored_lines) + "\n", encoding="utf-8"
        )
    summary = summarize(scored)
    write_summary(summary, out / "summary.json")
    write_chart(summary, benchmark or "evaluation", out / "chart.png")
    return summary


async def _record(client: Client, outcome: EvalOutcome, item: EvalItem) -> dict[str, Any]:
    if outcome.report is not None:
        record = await tongyi_record(client, await session_histories(client, outcome.session_id))
        if record is not None:
            return {**record, "answer": item.answer, "rollout_idx": outcome.rollout}
    return {  # the reference's record for a question whose run failed
        "question": item.question,
        "answer": item.answer,
        "rollout_idx": outcome.rollout,
        "rollout_id": outcome.rollout,
        "error": f"Future resolution failed: {outcome.error}",
        "messages": [],
        "prediction": FAILED_PREDICTION,
    }
