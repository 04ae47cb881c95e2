"""The files an evaluation writes, in the reference's formats: iter{k}.jsonl (its trajectory
records), iter{k}_scored.jsonl (with the judge's verdicts) and summary.json, plus a chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from temporalio.client import Client

from graphs.prompts import FAILED_PREDICTION
from workers.client.timeline import session_histories, tongyi_record
from workers.eval.chart import write_chart
from workers.eval.data import EvalItem
from workers.eval.metrics import Scored, Summary, summarize, write_summary
from workers.workflows.evaluation import EvalOutcome

JUDGE_ERROR = "judge_error"  # the judgement of a session whose judge reply stayed unreadable
Lines = tuple[dict[str, Any], dict[str, Any]]  # a session's record line and its scored line


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash mid-write: that session runs again
        if isinstance(value, dict):
            lines.append(value)
    return lines


def previous_results(
    out: Path, items: list[EvalItem], rollouts: int
) -> dict[tuple[int, int], Lines]:
    """(question index, rollout) -> the lines an earlier run wrote for it, for the sessions it
    finished without error: as the reference does, those are not run again."""
    by_question = {item.question.strip(): item.index for item in items}
    found: dict[tuple[int, int], Lines] = {}
    for rollout in range(1, rollouts + 1):
        scored = {
            str(line.get("question", "")).strip(): line
            for line in _read_lines(out / f"iter{rollout}_scored.jsonl")
        }
        for record in _read_lines(out / f"iter{rollout}.jsonl"):
            question = str(record.get("question", "")).strip()
            if "error" in record or question not in by_question or question not in scored:
                continue
            found[by_question[question], rollout] = (record, scored[question])
    return found


async def write_results(
    client: Client,
    outcomes: list[EvalOutcome],
    items: list[EvalItem],
    out: Path,
    benchmark: str = "",
    previous: dict[tuple[int, int], Lines] | None = None,
) -> Summary:
    """iter{k}.jsonl in the reference's record format (failed sessions as its failure record),
    iter{k}_scored.jsonl with the judge's verdicts, summary.json with the metrics. Skipped
    sessions keep the lines of `previous`."""
    by_index = {item.index: item for item in items}
    by_rollout: dict[int, list[EvalOutcome]] = {}
    for outcome in outcomes:
        by_rollout.setdefault(outcome.rollout, []).append(outcome)
    scored: dict[int, list[Scored]] = {}
    for rollout, group in sorted(by_rollout.items()):
        lines, scored_lines = [], []
        for outcome in sorted(group, key=lambda o: o.index):
            kept = (previous or {}).get((outcome.index, outcome.rollout))
            if outcome.skipped and kept is not None:
                record, judged = kept
            else:
                record = await _record(client, outcome, by_index[outcome.index])
                judged = _judged(record, outcome)
            lines.append(json.dumps(record, ensure_ascii=False))
            scored_lines.append(json.dumps(judged, ensure_ascii=False))
            stats = judged.get("stats") or {}
            scored.setdefault(rollout, []).append(
                Scored(
                    question_index=outcome.index,
                    correct=bool(judged.get("correct")),
                    tool_calls=stats.get("tool_calls", 0),
                    tokens=stats.get("tokens", 0),
                    seconds=stats.get("seconds", 0.0),
                    termination=record.get("termination") or "failed",
                    judge_error=judged.get("judgement") == JUDGE_ERROR,
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


def _judged(record: dict[str, Any], outcome: EvalOutcome) -> dict[str, Any]:
    """The scored line: the record, the judge's verdict, and the session's statistics (kept so
    that a later run which skips this session still has them for the metrics)."""
    verdict, report = outcome.verdict, outcome.report
    return {
        **record,
        "judgement": JUDGE_ERROR
        if verdict and verdict.judge_error
        else (verdict.label if verdict else ""),
        "correct": bool(verdict and verdict.correct),
        "stats": {
            "tool_calls": report.tool_calls if report else 0,
            "tokens": report.completion_tokens if report else 0,
            "seconds": report.elapsed_seconds if report else 0.0,
        },
    }


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
