"""`deepresearch eval`: durable sessions per question and rollout, judged, with metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workers.cli.app import app, err, fail, out, run
from workers.cli.research import log_to_file
from workers.config import load_settings

if TYPE_CHECKING:
    from workers.workflows.evaluation import EvalOutcome


async def _eval(
    data: Path,
    rollouts: int,
    concurrency: int,
    judge_model: str | None,
    benchmark: str,
    out_dir: Path | None,
    replay_from: str | None = None,
    on_miss: str = "fail",
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.progress import Progress as ProgressBar

    from activities.llm import probe
    from workers.client import Evaluations, InvalidRequest, Sessions
    from workers.client.evaluations import STATE_FILE
    from workers.client.tapes import comparison, replayed_run
    from workers.eval.chart import write_replay_chart
    from workers.eval.data import load_dataset
    from workers.eval.metrics import render_table
    from workers.hosting.research_worker import research_endpoint, research_worker
    from workers.workflows.evaluation import EvalProgress
    from workers.workflows.models import TapeRef

    settings = load_settings()
    if judge_model:
        settings = settings.model_copy(update={"judge_model": judge_model})
    log_to_file(settings, "eval.log")
    try:
        items = load_dataset(data)
    except ValueError as error:
        raise InvalidRequest(str(error)) from None
    out_dir = out_dir or Path(f"{data.stem}-{'replay' if replay_from else 'eval'}")
    if (
        replay_from
        and Path(replay_from).is_dir()
        and out_dir.resolve() == Path(replay_from).resolve()
    ):
        raise InvalidRequest("--out: a replay writes to another folder than the run it replays")
    await probe(research_endpoint(settings))
    evaluations = Evaluations(await Sessions.connect(settings))
    replayed = tape = None
    if replay_from:
        replayed = await replayed_run(
            evaluations.sessions.client, evaluations.sessions.blobs, replay_from
        )
        tape = TapeRef(blob=replayed.tape, on_miss=on_miss)  # type: ignore[arg-type]
        err.print(
            f"replaying {replay_from}: {replayed.requests} recorded requests on tape "
            f"{replayed.tape} (on a miss: {on_miss})"
        )
    run_id = await evaluations.start(
        data, items, out_dir, rollouts=rollouts, concurrency=concurrency, benchmark=benchmark,
        tape=tape,
    )  # fmt: skip
    err.print(f"evaluation {run_id}: {len(items)} questions x {rollouts} rollouts -> {out_dir}")
    outcomes: list[EvalOutcome] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    async with research_worker(settings, evaluations.sessions.client):
        with ProgressBar(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("sessions", total=None)
            async for update in evaluations.watch(run_id):
                if isinstance(update, EvalProgress):
                    bar.update(task, total=update.total, completed=update.finished)
                else:
                    outcomes = update
    summary = await evaluations.write(outcomes, items, out_dir, benchmark)
    out.print(render_table(summary))
    if summary.judge_errors:
        err.print(
            f"[yellow]warning:[/yellow] {summary.judge_errors} judge replies could not be read "
            "after 3 asks; those sessions are marked judge_error and left out of the scores"
        )
    if replayed is None:
        out.print(f"wrote {out_dir}/iter*.jsonl, iter*_scored.jsonl, summary.json and chart.png")
        return
    now = json.loads((out_dir / STATE_FILE).read_text()).get("settings") or {}
    outcomes = await evaluations.filled(outcomes, items, out_dir)  # a re-run skipped some
    compared = comparison(replayed, outcomes, items, now)
    (out_dir / "replay.json").write_text(json.dumps(compared, indent=2, ensure_ascii=False))
    write_replay_chart(compared["questions"], out_dir / "replay.png")
    print_replay(compared)
    out.print(
        f"wrote {out_dir}/iter*.jsonl, iter*_scored.jsonl, summary.json, chart.png, "
        "replay.json and replay.png"
    )


def print_replay(compared: dict[str, Any]) -> None:
    """The replay against the run it replays: what changed, question by question."""
    from rich.table import Table

    from workers.cli.render import safe

    for name, (was, now) in compared["settings_changed"].items():
        out.print(f"setting changed: {name}: {safe(json.dumps(was))} -> {safe(json.dumps(now))}")
    table = Table("question", "answer", "score", "steps", "tokens", title="replay vs replayed")

    def pair(row: dict[str, Any], key: str) -> str:
        def shown(value: Any) -> str:
            if key == "correct":
                return "-" if value is None else "correct" if value else "wrong"
            return "-" if value is None else str(value)

        return f"{shown(row[key + '_before'])} -> {shown(row[key + '_after'])}"

    for row in compared["questions"]:
        answer = (
            "failed: " + str(row["error"])
            if row["error"]
            else ("changed" if row["answer_changed"] else "same")
        )
        table.add_row(
            f"q{row['index']} r{row['rollout']}", safe(answer[:120]), pair(row, "correct"),
            pair(row, "steps"), pair(row, "tokens"),
        )  # fmt: skip
    out.print(table)
    out.print(
        f"{compared['answers_changed']} of {len(compared['questions'])} answers changed · "
        f"score {compared['score_before']} -> {compared['score_after']}"
    )


async def _eval_status(out_dir: Path) -> None:
    from workers.client import Evaluations, Sessions

    evaluations = Evaluations(await Sessions.connect())
    run_id, status, progress = await evaluations.status(out_dir)
    line = f"{run_id}: {status}"
    if progress is not None:
        line += (
            f", {progress.finished}/{progress.total} sessions done ({progress.running} running, "
            f"{progress.failed} failed, {progress.correct} judged correct"
            + (f", {progress.judge_errors} judge errors" if progress.judge_errors else "")
            + ")"
        )
    out.print(line)


@app.command(name="eval")
def evaluate(
    data: Annotated[
        Path | None, typer.Argument(help="A dataset: .json list or .jsonl of question/answer.")
    ] = None,
    rollouts: Annotated[int, typer.Option(min=1, help="Sessions per question.")] = 3,
    concurrency: Annotated[int, typer.Option(min=1, help="Sessions at once.")] = 20,
    judge_model: Annotated[
        str | None, typer.Option(help="Judge model (default DEEPRESEARCH_JUDGE_MODEL).")
    ] = None,
    benchmark: Annotated[
        str, typer.Option(help="Judging scheme by benchmark: gaia, browsecomp, simpleqa, ...")
    ] = "gaia",
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default DATA-eval).")
    ] = None,
    status: Annotated[
        Path | None, typer.Option(help="Show the progress of the evaluation in this folder.")
    ] = None,
    replay_from: Annotated[
        str | None,
        typer.Option(
            help="Replay an earlier run (its eval folder, or session ids a,b,...): the web's "
            "tools answer from what it recorded; no network, no search or page cost."
        ),
    ] = None,
    on_miss: Annotated[
        str, typer.Option(help="A request the tape lacks: fail (the question) or live.")
    ] = "fail",
) -> None:
    """Evaluate on a dataset: durable sessions per question and rollout, judged, with metrics.
    Re-running the same command resumes the run."""
    if status is not None:
        run(_eval_status(status))
        return
    if data is None:
        raise fail("give a dataset (or --status DIR)")
    if on_miss not in ("fail", "live"):
        raise fail("--on-miss is fail or live")
    run(_eval(data, rollouts, concurrency, judge_model, benchmark, out_dir, replay_from, on_miss))
