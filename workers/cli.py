"""`deepresearch ...`: ask, show, worker, server."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from openai import AsyncOpenAI
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.progress import Progress as ProgressBar
from rich.table import Table
from rich.text import Text
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.blobstore import LocalBlobStore
from activities.context import ModelEndpoint, ModelReplica
from activities.corpus import build_index
from activities.errors import DeepResearchError
from activities.llm import probe
from graphs.iterative import STRATEGIES
from graphs.state import ResearchLimits
from workers import devserver, eval_run, search_attributes
from workers.codec_server import make_server
from workers.config import Settings, load_settings
from workers.eval_data import load_dataset
from workers.eval_metrics import render_table
from workers.evaluation import EvalWorkflow
from workers.heavy import HeavyInput, HeavyProgress, HeavyWorkflow
from workers.models import Progress, ResearchInput, ResearchReport
from workers.research_worker import (
    connect,
    research_endpoint,
    research_worker,
    run_inference_worker,
    run_worker,
)
from workers.sessions import stamp, upload_files
from workers.timeline import (
    last_turn_state,
    read_timeline,
    session_histories,
    tongyi_record,
)
from workers.workflow import ResearchWorkflow

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
DetachOption = Annotated[bool, typer.Option(help="Print the session id and return.")]
WorkerOption = Annotated[
    bool, typer.Option(help="Run a research worker while waiting (--no-worker: rely on others).")
]


class CliError(Exception):
    """A one-line error for the user; exit code 2 unless given."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _run(work: Awaitable[T]) -> T:
    """Run a command; every expected failure becomes one line on stderr, never a traceback."""
    try:
        return asyncio.run(work)  # type: ignore[arg-type]
    except CliError as error:
        err.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(error.code) from None
    except DeepResearchError as error:
        err.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    except RPCError as error:
        err.print(f"[red]error:[/red] Temporal: {escape(error.message)}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted; the session keeps its progress (see `deepresearch show ID`)")
        raise typer.Exit(130) from None


async def _client(settings: Settings, metrics_port: int | None = None) -> Client:
    address = settings.temporal_address or devserver.ensure_dev_server(settings.data_dir)
    try:
        return await connect(settings, address, metrics_port)
    except RuntimeError as error:
        raise CliError(f"cannot reach Temporal at {address}: {error}") from None


def _status_name(status: int | None) -> str:
    if status is None:
        return "unknown"
    return WorkflowExecutionStatus.Name(status).removeprefix("WORKFLOW_EXECUTION_STATUS_").lower()


async def _describe_status(handle: WorkflowHandle[Any, Any]) -> str | None:
    try:
        return _status_name((await handle.describe()).status)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def _spawn_background_worker(settings: Settings) -> None:
    """For --detach: a worker process that outlives this command (reused while alive)."""
    pid_file = settings.data_dir / "worker.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), 0)
            return
        except (OSError, ValueError):
            pass
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "worker.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_file.write_text(str(process.pid))


def _progress_line(session_id: str, progress: Progress) -> Text:
    line = Text()
    line.append(f"{session_id} ", style="bold")
    line.append(f"step {progress.step} · {progress.node} · ")
    line.append(f"{progress.llm_calls} model calls, {progress.tool_calls} tool calls, ")
    line.append(
        f"{progress.tokens} tokens, {progress.sources} sources · {progress.elapsed_seconds:.0f}s\n"
    )
    line.append(progress.last_action[:160], style="dim")
    return line


def heavy_lines(
    session_id: str, progress: HeavyProgress, running: dict[int, Progress] | None = None
) -> Text:
    """The live view of a Heavy session: one line per branch, with a running branch's step."""
    lines = Text()
    lines.append(f"{session_id} ", style="bold")
    lines.append(f"heavy mode · {progress.stage}")
    lines.append(f" · cancelling: {progress.cancelling}\n" if progress.cancelling else "\n")
    for branch in progress.branches:
        detail = f": {branch.answer[:80]}" if branch.answer else ""
        live = (running or {}).get(branch.branch)
        if live is not None and branch.status == "running":
            detail = f" · step {live.step}, {live.tool_calls} tool calls · {live.last_action[:80]}"
        lines.append(
            f"  {branch.session_id} (t={branch.temperature}, {branch.strategy}) "
            f"{branch.status}{detail}\n"
        )
    return lines


async def _branch_progress(client: Client, progress: HeavyProgress) -> dict[int, Progress]:
    """Each running branch's own progress (a branch is a session of its own)."""

    async def one(session_id: str) -> Progress | None:
        try:
            handle = client.get_workflow_handle_for(ResearchWorkflow.run, session_id)
            return await handle.query(ResearchWorkflow.progress)
        except RPCError:
            return None  # not started yet, or just finished

    running = [b for b in progress.branches if b.status == "running"]
    found = await asyncio.gather(*(one(b.session_id) for b in running))
    return {b.branch: p for b, p in zip(running, found, strict=True) if p is not None}


async def _wait(
    client: Client, handle: WorkflowHandle[Any, ResearchReport], live: bool
) -> ResearchReport:
    result = asyncio.ensure_future(handle.result())
    if not live:
        return await result
    is_heavy = await _is_heavy(client, handle.id)
    with Live(
        Text(f"{handle.id} starting…"), console=err, refresh_per_second=4, transient=True
    ) as view:
        while not result.done():
            try:
                if is_heavy:
                    branches = await handle.query(HeavyWorkflow.progress)
                    running = await _branch_progress(client, branches)
                    view.update(heavy_lines(handle.id, branches, running))
                else:
                    progress = await handle.query(ResearchWorkflow.progress)
                    view.update(_progress_line(handle.id, progress))
            except RPCError:
                pass  # no worker has picked the session up yet
            await asyncio.wait({result}, timeout=0.5)
    return await result


def _root_cause(error: BaseException) -> str:
    """Our classified error (the first ApplicationError in the chain, e.g. the model endpoint's
    HTTP status), on one line."""
    current: BaseException | None = error
    while current is not None and not isinstance(current, ApplicationError):
        current = getattr(current, "cause", None)
    return " ".join(str(current or error).split())


def _save_report(settings: Settings, report: ResearchReport, out_file: Path | None) -> None:
    """Reports go under DATA_DIR/reports/ (and to --out); their warnings to stderr."""
    for warning in report.report_warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    targets = [settings.data_dir / "reports" / f"{report.session_id}.md"]
    if out_file is not None:
        targets.append(out_file)
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(report.report_markdown or "", encoding="utf-8")
    err.print(f"report written to {', '.join(str(t) for t in targets)}")


def _print_report(report: ResearchReport, as_json: bool) -> None:
    if as_json:
        out.print_json(report.model_dump_json())
        return
    if report.report_markdown is not None:
        out.print(Markdown(report.report_markdown))
    out.print(f"[bold]Question:[/bold] {escape(report.question)}")
    out.print(f"[bold]Answer:[/bold] {escape(report.answer)}")
    if report.sources:
        out.print("[bold]Sources:[/bold]")
        for index, url in enumerate(report.sources, start=1):
            out.print(f"  [{index}] {escape(url)}")
    out.print(
        f"[dim]{report.session_id}: {report.termination} · {report.llm_calls} model calls · "
        f"{report.tool_calls} tool calls · "
        f"{report.prompt_tokens + report.completion_tokens} tokens · "
        f"{report.elapsed_seconds:.1f}s[/dim]"
    )


def _log_to_file(settings: Settings, name: str) -> None:
    """The in-process worker of `ask` logs retries and failures to a file, not over the answer."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=settings.data_dir / name,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        force=True,
    )


def _upload(settings: Settings, paths: list[Path]) -> dict[str, str]:
    try:
        return upload_files(LocalBlobStore(settings.blob_dir), paths)
    except ValueError as error:
        raise CliError(str(error)) from None


async def _ask(
    question: str,
    session_id: str | None,
    max_llm_calls: int | None,
    as_json: bool,
    detach: bool,
    worker: bool,
    paths: list[Path],
    branches: int | None = None,
    synthesis: str = "select",
    report: bool = False,
    report_out: Path | None = None,
    strategies: list[str] | None = None,
) -> None:
    settings = load_settings()
    strategies = strategies or ["react"]
    _log_to_file(settings, "ask.log")
    limits = ResearchLimits(
        max_llm_calls=max_llm_calls or settings.max_llm_calls,
        max_context_tokens=settings.max_context_tokens,
        wall_clock_seconds=settings.wall_clock_minutes * 60,
    )
    try:
        request = ResearchInput(
            question=question,
            limits=limits,
            report=report,
            protocol=settings.protocol,
            strategy=strategies[0],
        )
        request.files = _upload(settings, paths)
    except ValidationError as error:
        raise CliError(error.errors()[0]["msg"].removeprefix("Value error, ")) from None
    if worker:
        await probe(research_endpoint(settings))
    client = await _client(settings)
    request = await stamp(client, settings, request)
    session_id = session_id or f"research-{uuid.uuid4().hex[:12]}"
    handle = client.get_workflow_handle_for(ResearchWorkflow.run, session_id)
    status = await _describe_status(handle)
    if status == "completed":
        err.print(f"session {session_id} already completed; showing its answer")
    elif status != "running" and branches:
        heavy = HeavyInput(
            session=request,
            branches=branches,
            synthesis=synthesis,
            strategies=strategies,
            task_queue=settings.task_queue,
            heartbeat_seconds=settings.heartbeat_seconds,
        )
        heavy_handle = await client.start_workflow(
            HeavyWorkflow.run,
            heavy,
            id=session_id,
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        handle = client.get_workflow_handle_for(ResearchWorkflow.run, heavy_handle.id)
    elif status != "running":
        handle = await client.start_workflow(
            ResearchWorkflow.run,
            request,
            id=session_id,
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    elif not as_json:
        err.print(f"attaching to running session {session_id}")
    await _follow(
        settings, client, handle, as_json=as_json, detach=detach, worker=worker, out_file=report_out
    )


async def _follow(
    settings: Settings,
    client: Client,
    handle: WorkflowHandle[Any, ResearchReport],
    *,
    as_json: bool,
    detach: bool,
    worker: bool,
    out_file: Path | None = None,
) -> None:
    """Return at once (--detach), or wait for the report, hosting a worker meanwhile."""
    if detach:
        if worker:
            _spawn_background_worker(settings)
        out.print(json.dumps({"session_id": handle.id}) if as_json else handle.id)
        return
    live = not as_json and err.is_terminal
    try:
        if worker:
            async with research_worker(settings, client):
                report = await _wait(client, handle, live)
        else:
            report = await _wait(client, handle, live)
    except WorkflowFailureError as error:
        raise CliError(f"session {handle.id} failed: {_root_cause(error)}", code=1) from None
    if report.report_markdown is not None:
        _save_report(settings, report, out_file)
    _print_report(report, as_json)


async def _is_heavy(client: Client, session_id: str) -> bool:
    description = await client.get_workflow_handle(session_id).describe()
    return description.workflow_type == HeavyWorkflow.__name__


def heavy_parent(session_id: str, verb: str) -> str:
    return f"{session_id} is a Heavy session: {verb} its branches ({session_id}-b0, ...)"


async def _resume(session_id: str, as_json: bool, detach: bool, worker: bool) -> None:
    settings = load_settings()
    _log_to_file(settings, "ask.log")
    if worker:
        await probe(research_endpoint(settings))
    client = await _client(settings)
    handle = client.get_workflow_handle_for(ResearchWorkflow.run, session_id)
    status = await _describe_status(handle)
    if status is None:
        raise CliError(f"no session with id {session_id!r}")
    if status in ("running", "completed"):
        raise CliError(f"session {session_id} is {status}; only a stopped session can be resumed")
    if await _is_heavy(client, session_id):
        raise CliError(heavy_parent(session_id, "resume") + ", or ask again")
    state = await last_turn_state(client, await session_histories(client, session_id))
    if state is None:
        raise CliError(f"session {session_id} stopped before its first model call; ask again")
    request = ResearchInput(
        question=state["question"],
        limits=ResearchLimits(**state.get("limits", {})),
        protocol=state.get("protocol", "tongyi"),
        strategy=state.get("strategy", "react"),
        resume_state=state,
    )
    request = await stamp(client, settings, request)
    handle = await client.start_workflow(
        ResearchWorkflow.run, request, id=session_id, task_queue=settings.task_queue
    )
    if not as_json:
        err.print(f"resuming {session_id} at model call {state.get('llm_calls', 0) + 1}")
    await _follow(settings, client, handle, as_json=as_json, detach=detach, worker=worker)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="What to research.")],
    session_id: Annotated[
        str | None, typer.Option("--id", help="Session id (re-attaches if running).")
    ] = None,
    max_llm_calls: Annotated[int | None, typer.Option(min=1, help="Model-call budget.")] = None,
    as_json: JsonOption = False,
    detach: DetachOption = False,
    worker: WorkerOption = True,
    files: Annotated[
        list[Path] | None,
        typer.Option("--file", help="A file for the parse_file tool (repeatable)."),
    ] = None,
    mode: Annotated[
        str, typer.Option(help="react (one session) or heavy (parallel branches, synthesized).")
    ] = "react",
    branches: Annotated[int, typer.Option(min=1, max=16, help="Heavy mode's branches.")] = 3,
    synthesis: Annotated[
        str, typer.Option(help="Heavy mode: select (one report's answer) or fuse (combine).")
    ] = "select",
    report: Annotated[
        bool, typer.Option("--report", help="Also write a long-form report with citations.")
    ] = False,
    report_out: Annotated[
        Path | None, typer.Option("--out", help="Write the report here too.")
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            help="react (the whole conversation each turn) or iterative (IterResearch: a "
            "workspace rebuilt each round). Heavy mode: a comma list, cycled over the branches."
        ),
    ] = "react",
) -> None:
    """Research a question and print the answer with its sources."""
    if mode not in ("react", "heavy") or synthesis not in ("select", "fuse"):
        err.print("[red]error:[/red] --mode is react or heavy; --synthesis is select or fuse")
        raise typer.Exit(2)
    strategies = [name.strip() for name in strategy.split(",")]
    if any(name not in STRATEGIES for name in strategies) or (
        mode != "heavy" and len(strategies) > 1
    ):
        err.print(
            "[red]error:[/red] --strategy is react or iterative "
            "(a comma list such as iterative,react only with --mode heavy)"
        )
        raise typer.Exit(2)
    heavy_branches = branches if mode == "heavy" else None
    _run(
        _ask(
            question,
            session_id,
            max_llm_calls,
            as_json,
            detach,
            worker,
            files or [],
            branches=heavy_branches,
            synthesis=synthesis,
            report=report,
            report_out=report_out,
            strategies=strategies,
        )
    )


@app.command()
def resume(
    session_id: Annotated[str, typer.Argument(help="Id of a failed or terminated session.")],
    as_json: JsonOption = False,
    detach: DetachOption = False,
    worker: WorkerOption = True,
) -> None:
    """Continue a failed session from its last model call, keeping everything done before it."""
    _run(_resume(session_id, as_json, detach, worker))


STATUSES = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Canceled",
    "terminated": "Terminated",
    "timed-out": "TimedOut",
}


def since_clause(since: str, now: datetime) -> str:
    """'30m', '2h', '7d' -> a StartTime filter."""
    units = {"m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(since[:-1]) * units[since[-1]]
    except (KeyError, ValueError, IndexError):
        raise CliError(
            f"invalid --since {since!r}: use a number with m, h or d (e.g. 2h)"
        ) from None
    start = (now - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"StartTime > '{start}'"


async def _list(
    status: str | None, since: str | None, text: str | None, limit: int, as_json: bool
) -> None:
    settings = load_settings()
    client = await _client(settings)
    clauses = ["WorkflowType IN ('ResearchWorkflow', 'HeavyWorkflow')"]
    if status:
        if status not in STATUSES:
            raise CliError(f"invalid --status {status!r}: choose from {', '.join(STATUSES)}")
        clauses.append(f"ExecutionStatus = '{STATUSES[status]}'")
    if since:
        clauses.append(since_clause(since, datetime.now(UTC)))
    if text:
        escaped = text.replace("\\", "\\\\").replace("'", "\\'")
        clauses.append(f"{search_attributes.QUESTION.name} = '{escaped}'")
    rows = []
    async for execution in client.list_workflows(" AND ".join(clauses), limit=limit):
        found = execution.typed_search_attributes
        rows.append(
            {
                "session_id": execution.id,
                "status": _status_name(execution.status),
                "started": execution.start_time.isoformat() if execution.start_time else "",
                "steps": found.get(search_attributes.STEPS),
                "termination": found.get(search_attributes.TERMINATION),
                "model": found.get(search_attributes.MODEL),
                "question": found.get(search_attributes.QUESTION) or "",
            }
        )
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("session", "status", "started", "steps", "termination", "question", box=None)
    for row in rows:
        table.add_row(
            row["session_id"],
            row["status"],
            row["started"][:19].replace("T", " "),
            "" if row["steps"] is None else str(row["steps"]),
            row["termination"] or "",
            escape(row["question"][:60]),
        )
    out.print(table if rows else "no sessions")


@app.command(name="list")
def list_sessions(
    status: Annotated[str | None, typer.Option(help=f"One of: {', '.join(STATUSES)}.")] = None,
    since: Annotated[str | None, typer.Option(help="Started within, e.g. 30m, 2h, 7d.")] = None,
    query: Annotated[str | None, typer.Option(help="Words in the question.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List sessions, newest first."""
    _run(_list(status, since, query, limit, as_json))


STEP_FIELDS = ("thought", "report", "tool_call", "invalid_tool_call", "answer", "observation")
FAILURE_FIELDS = ("last_failure", "failure")


def _render_step(number: int, step: dict[str, Any]) -> None:
    retries = f" · attempt {step['attempts']}" if step.get("attempts", 1) > 1 else ""
    if "duration_s" in step:
        retries += f" · {step['duration_s']:.2f}s"
    out.print(
        f"[cyan]{number:>3}. {escape(step['summary'] or step['node'])}[/cyan]"
        f" [dim]({step['status']}{retries})[/dim]"
    )
    for key in (*STEP_FIELDS, *FAILURE_FIELDS):
        if key in step:
            value = step[key]
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            text = text.strip().replace("\n", "\n" + " " * 9)
            out.print(f"       [bold]{key}:[/bold] {escape(text)}")


def _render_outcome(timeline: dict[str, Any]) -> None:
    if timeline.get("report"):
        report = timeline["report"]
        answer, why = escape(str(report.get("answer"))), report.get("termination")
        out.print(f"[bold]Answer:[/bold] {answer}  [dim]({why})[/dim]")
    if timeline.get("error"):
        out.print(f"[red]Failed:[/red] {escape(timeline['error'])}")


async def _histories(client: Client, session_id: str) -> list[WorkflowHistory]:
    try:
        return await session_histories(client, session_id)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise CliError(f"no session with id {session_id!r}") from None
        raise


async def _show(session_id: str, as_json: bool, follow: bool) -> None:
    settings = load_settings()
    client = await _client(settings)
    timeline = await read_timeline(client, await _histories(client, session_id))
    if not follow:
        if as_json:
            out.print_json(json.dumps({"session_id": session_id, **timeline}, default=str))
            return
        out.print(f"[bold]{escape(session_id)}[/bold] · {timeline['status']}")
        for number, step in enumerate(timeline["steps"], start=1):
            _render_step(number, step)
        _render_outcome(timeline)
        return
    printed = 0  # --follow: each finished step once, as it finishes, until the session ends
    while True:
        steps = timeline["steps"]
        while printed < len(steps) and steps[printed]["status"] not in ("scheduled", "running"):
            step = steps[printed]
            printed += 1
            if as_json:
                out.print(json.dumps({"step": printed, **step}, default=str), highlight=False)
            else:
                _render_step(printed, step)
        if timeline["status"] != "running":
            if as_json:
                outcome = {k: v for k, v in timeline.items() if k != "steps"}
                out.print(json.dumps(outcome, default=str), highlight=False)
            else:
                _render_outcome(timeline)
            return
        await asyncio.sleep(1.0)
        timeline = await read_timeline(client, await _histories(client, session_id))


@app.command()
def show(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Print steps as they finish, until the end.")
    ] = False,
    blob: Annotated[
        str | None,
        typer.Option(help="Print one stored blob in full (a digest from the timeline, sha256:…)."),
    ] = None,
) -> None:
    """Show a session's trajectory from its workflow history."""
    if blob is not None:
        _print_blob(blob)
        return
    _run(_show(session_id, as_json, follow))


def _print_blob(digest: str) -> None:
    """Pages and files are stored whole; the timeline holds their digests and excerpts."""
    try:
        data = LocalBlobStore(load_settings().blob_dir).get(digest)
    except (KeyError, ValueError) as error:
        err.print(f"[red]error:[/red] {escape(str(error).strip(chr(39)))}")
        raise typer.Exit(2) from None
    sys.stdout.write(data.decode("utf-8", errors="replace"))


async def _watch(session_id: str, as_json: bool) -> None:
    settings = load_settings()
    client = await _client(settings)
    handle = client.get_workflow_handle_for(ResearchWorkflow.run, session_id)
    if await _describe_status(handle) is None:
        raise CliError(f"no session with id {session_id!r}")
    await _follow(settings, client, handle, as_json=as_json, detach=False, worker=False)


@app.command()
def watch(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    as_json: JsonOption = False,
) -> None:
    """Watch a session's live progress, then print its answer (runs no worker)."""
    _run(_watch(session_id, as_json))


async def _eval(
    data: Path,
    rollouts: int,
    concurrency: int,
    judge_model: str | None,
    benchmark: str,
    out_dir: Path | None,
) -> None:
    settings = load_settings()
    if judge_model:
        settings = settings.model_copy(update={"judge_model": judge_model})
    _log_to_file(settings, "eval.log")
    try:
        items = load_dataset(data)
    except ValueError as error:
        raise CliError(str(error)) from None
    out_dir = out_dir or Path(f"{data.stem}-eval")
    await probe(research_endpoint(settings))
    client = await _client(settings)
    try:
        handle = await eval_run.start(
            client, settings, data, items, out_dir, rollouts, concurrency, benchmark
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    err.print(f"evaluation {handle.id}: {len(items)} questions x {rollouts} rollouts -> {out_dir}")
    async with research_worker(settings, client):
        outcomes = await _eval_wait(handle)
    summary = await eval_run.write_results(client, outcomes, items, out_dir, benchmark)
    out.print(render_table(summary))
    out.print(f"wrote {out_dir}/iter*.jsonl, iter*_scored.jsonl, summary.json and chart.png")


async def _eval_wait(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    """The run's outcomes, with a progress bar over its sessions on a terminal."""
    result = asyncio.ensure_future(handle.result())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with ProgressBar(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("sessions", total=None)
        while not result.done():
            try:
                progress = await handle.query(EvalWorkflow.progress)
                bar.update(task, total=progress.total, completed=progress.finished)
            except RPCError:
                pass  # no worker has picked the run up yet
            await asyncio.wait({result}, timeout=1.0)
    return await result


async def _eval_status(out_dir: Path) -> None:
    state_file = out_dir / eval_run.STATE_FILE
    if not state_file.exists():
        raise CliError(f"no evaluation in {out_dir} (no {eval_run.STATE_FILE})")
    state = json.loads(state_file.read_text())
    client = await _client(load_settings())
    handle = client.get_workflow_handle(state["run_id"])
    status = await _describe_status(handle)
    line = f"{state['run_id']}: {status}"
    if status == "running":
        progress = await handle.query(EvalWorkflow.progress)
        line += (
            f", {progress.finished}/{progress.total} sessions done ({progress.running} running, "
            f"{progress.failed} failed, {progress.correct} judged correct)"
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
) -> None:
    """Evaluate on a dataset: durable sessions per question and rollout, judged, with metrics.
    Re-running the same command resumes the run."""
    if status is not None:
        _run(_eval_status(status))
        return
    if data is None:
        err.print("[red]error:[/red] give a dataset (or --status DIR)")
        raise typer.Exit(2)
    _run(_eval(data, rollouts, concurrency, judge_model, benchmark, out_dir))


async def _running_handle(session_id: str) -> WorkflowHandle[Any, Any]:
    settings = load_settings()
    client = await _client(settings)
    handle = client.get_workflow_handle_for(ResearchWorkflow.run, session_id)
    status = await _describe_status(handle)
    if status is None:
        raise CliError(f"no session with id {session_id!r}")
    if status != "running":
        raise CliError(f"session {session_id} is not running (it is {status})")
    return handle


async def _cancel(session_id: str, reason: str) -> None:
    handle = await _running_handle(session_id)
    await handle.signal(ResearchWorkflow.cancel, reason)
    err.print(f"cancelling {session_id}: the model gives its best answer after the current step")


async def _steer(session_id: str, note: str) -> None:
    if not note.strip():
        raise CliError("the note is empty")
    handle = await _running_handle(session_id)
    await handle.signal(ResearchWorkflow.steer, note)
    err.print(f"note queued for {session_id}: the model sees it before its next turn")


@app.command()
def cancel(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the session's history).")] = "",
) -> None:
    """Stop a session gracefully: no more tool calls, best answer from what it has."""
    _run(_cancel(session_id, reason))


@app.command()
def steer(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    note: Annotated[str, typer.Argument(help="A note for the model, seen at its next step.")],
) -> None:
    """Send the model an operator's note."""
    _run(_steer(session_id, note))


async def _export(session_ids: list[str], every: bool, output: Path | None) -> None:
    settings = load_settings()
    client = await _client(settings)
    if every:
        query = "WorkflowType = 'ResearchWorkflow' AND ExecutionStatus = 'Completed'"
        session_ids = [execution.id async for execution in client.list_workflows(query)]
    if not session_ids:
        raise CliError("name one or more session ids, or --all")
    lines = []
    for session_id in session_ids:
        record = await tongyi_record(client, await _histories(client, session_id))
        if record is None and await _is_heavy(client, session_id):
            raise CliError(heavy_parent(session_id, "export"))
        if record is None:
            raise CliError(f"session {session_id} has not completed; nothing to export")
        lines.append(json.dumps(record, ensure_ascii=False))
    text = "\n".join(lines) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {len(lines)} trajectories to {output}")


@app.command()
def export(
    session_ids: Annotated[list[str] | None, typer.Argument(help="Session ids.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every completed session.")] = False,
    format_: Annotated[
        str, typer.Option("--format", help="Record format (tongyi: the reference's JSONL).")
    ] = "tongyi",
    output: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
) -> None:
    """Write completed sessions as JSON lines in the reference agent's trajectory format."""
    if format_ != "tongyi":
        err.print(f"[red]error:[/red] unknown --format {format_!r}: choose from tongyi")
        raise typer.Exit(2)
    _run(_export(session_ids or [], every, output))


async def _inference_worker(
    endpoint: str,
    replica: str,
    max_concurrent: int,
    model: str | None,
    metrics_port: int | None,
    api_key_env: str | None,
) -> None:
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    name = model or settings.model
    if not name:
        raise CliError("no model name: pass --model or set DEEPRESEARCH_MODEL")
    key = settings.openai_api_key.get_secret_value()
    if api_key_env:
        if not os.environ.get(api_key_env):
            raise CliError(f"--api-key-env {api_key_env}: that variable is not set")
        key = os.environ[api_key_env]
    client = await _client(settings, metrics_port)
    target = ModelReplica(
        ModelEndpoint(AsyncOpenAI(base_url=endpoint, api_key=key, max_retries=0), name), replica
    )
    err.print(
        f"inference worker {replica!r} for {endpoint} ({name}): queues "
        f"{settings.llm_queue!r} and {settings.llm_queue + '-' + replica!r}, "
        f"at most {max_concurrent} in flight"
    )
    await run_inference_worker(settings, client, target, max_concurrent)


@app.command(name="inference-worker")
def inference_worker_command(
    endpoint: Annotated[str, typer.Option(help="The model server's OpenAI-compatible base URL.")],
    replica: Annotated[str, typer.Option(help="This replica's name (its task queue).")] = "",
    max_concurrent: Annotated[
        int, typer.Option(min=1, help="Generations in flight at most (the batch capacity).")
    ] = 16,
    model: Annotated[
        str | None, typer.Option(help="Model name on this server (default DEEPRESEARCH_MODEL).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Variable holding this server's key (default OPENAI_API_KEY)."),
    ] = None,
) -> None:
    """Front one model server: take model calls from the pool while the server is healthy."""
    name = replica or re.sub(r"[^A-Za-z0-9_.-]+", "-", endpoint.split("://", 1)[-1]).strip("-")
    _run(_inference_worker(endpoint, name, max_concurrent, model, metrics_port, api_key_env))


async def _worker(metrics_port: int | None, inference: bool) -> None:
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings.require_model()
    client = await _client(settings, metrics_port)
    err.print(f"research worker polling task queue {settings.task_queue!r}")
    if metrics_port is not None:
        err.print(f"Prometheus metrics on http://0.0.0.0:{metrics_port}/metrics")
    await run_worker(settings, client, inference)


@app.command()
def index(
    folder: Annotated[Path, typer.Argument(help="A folder of documents to make searchable.")],
) -> None:
    """Build (or update) the local corpus index that the `local` search backend searches."""
    try:
        settings = load_settings()
        stats = build_index(folder, settings.corpus_dir)
    except DeepResearchError as error:
        err.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    out.print(
        f"indexed {folder} into {settings.corpus_dir}: {stats.added} added, "
        f"{stats.updated} updated, {stats.unchanged} unchanged, {stats.removed} removed; "
        f"{stats.documents} documents"
    )
    for skipped in stats.skipped:
        err.print(f"skipped {escape(skipped)}")
    out.print("search it with DEEPRESEARCH_SEARCH=local")


@app.command(name="codec-server")
def codec_server(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    allow_origin: Annotated[
        str, typer.Option(help="The Temporal UI's origin, allowed by CORS.")
    ] = "http://localhost:8233",
) -> None:
    """Serve Temporal's codec endpoints so the UI and the temporal CLI decode payloads."""
    settings = load_settings()
    try:
        server = make_server(settings.blob_dir, host, port, allow_origin)
    except OSError as error:
        err.print(f"[red]error:[/red] cannot listen on {host}:{port}: {error.strerror}")
        raise typer.Exit(2) from None
    err.print(f"codec server on http://{host}:{port} (blob store {settings.blob_dir})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


@app.command(name="worker")
def worker_command(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
    inference: Annotated[
        bool,
        typer.Option(
            help="Also front OPENAI_BASE_URL as replica 'local' (--no-inference when "
            "inference workers run apart)."
        ),
    ] = True,
) -> None:
    """Run a research worker until SIGTERM (graceful shutdown)."""
    _run(_worker(metrics_port, inference))


@app.command()
def server(
    port: Annotated[int, typer.Option(help="gRPC port.")] = devserver.DEFAULT_PORT,
    ui_port: Annotated[int, typer.Option(help="Web UI port.")] = devserver.DEFAULT_UI_PORT,
) -> None:
    """Run the embedded Temporal dev server in the foreground."""
    try:
        settings = load_settings()
        devserver.run_foreground(Path(settings.data_dir), port, ui_port)
    except DeepResearchError as error:
        err.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None


def main() -> None:
    """Run the CLI, then leave without interpreter teardown: temporalio's Rust runtime threads
    can abort a finalizing interpreter (temporalio/sdk-python#300), turning a finished command
    into a crash."""
    code = 0
    try:
        app()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
