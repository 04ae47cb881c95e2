"""Client side of `deepresearch eval`: start or re-attach to a run, then write the reference's
files (iter{k}.jsonl, iter{k}_scored.jsonl) and summary.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from activities.blobstore import LocalBlobStore
from activities.judge import scheme_for
from workers.config import Settings
from workers.eval_chart import write_chart
from workers.eval_data import EvalItem
from workers.eval_metrics import Scored, Summary, summarize, write_summary
from workers.evaluation import EvalInput, EvalOutcome, EvalQuestion, EvalWorkflow
from workers.models import ResearchInput
from workers.sessions import stamp, upload_files
from workers.timeline import session_histories, tongyi_record

STATE_FILE = "eval.json"


def run_id_for(data: Path, items: list[EvalItem], rollouts: int, benchmark: str) -> str:
    """Deterministic: the same dataset, rollouts and benchmark give the same run (and so the
    same session ids), which is what makes re-running a command resume it."""
    digest = hashlib.sha256()
    digest.update(str(data.resolve()).encode())
    for item in items:
        digest.update(
            json.dumps([item.question, item.answer, [str(f) for f in item.files]]).encode()
        )
    digest.update(f"{rollouts}|{benchmark}".encode())
    return f"eval-{digest.hexdigest()[:12]}"


async def start(
    client: Client,
    settings: Settings,
    data: Path,
    items: list[EvalItem],
    out: Path,
    rollouts: int,
    concurrency: int,
    benchmark: str,
) -> WorkflowHandle[Any, list[EvalOutcome]]:
    run_id = run_id_for(data, items, rollouts, benchmark)
    store = LocalBlobStore(settings.blob_dir)
    questions = [
        EvalQuestion(
            index=item.index,
            question=item.question,
            answer=item.answer,
            files=upload_files(store, list(item.files)),
        )
        for item in items
    ]
    template = await stamp(client, settings, ResearchInput(question="(template)"))
    request = EvalInput(
        run_id=run_id,
        questions=questions,
        rollouts=rollouts,
        concurrency=concurrency,
        scheme=scheme_for(benchmark),
        session=template,
        task_queue=settings.task_queue,
        heartbeat_seconds=settings.heartbeat_seconds,
    )
    out.mkdir(parents=True, exist_ok=True)
    state = {"run_id": run_id, "data": str(data.resolve()), "rollouts": rollouts,
             "benchmark": benchmark, "questions": len(items)}  # fmt: skip
    (out / STATE_FILE).write_text(json.dumps(state, indent=2))
    return await client.start_workflow(
        EvalWorkflow.run,
        request,
        id=run_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


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
        "prediction": "[Failed]",
    }
