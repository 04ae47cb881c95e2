"""Research commands: ask, resume, watch, steer, cancel."""

from __future__ import annotations

import json
import logging
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.text import Text

from workers.cli.app import (
    CliError,
    DetachOption,
    JsonOption,
    WorkerOption,
    app,
    err,
    out,
    run,
)
from workers.cli.render import live_view, print_report, safe
from workers.config import Settings, load_settings
from workers.hosting import background

if TYPE_CHECKING:  # the session layer and the worker load with the command that runs
    from graphs.budget import Budget
    from workers.client import AskOptions, Sessions
    from workers.client.inputs import ForkOptions, WebhookRequest
    from workers.workflows.models import ResearchReport

WEBHOOK_GRACE = 15.0  # seconds `ask` keeps its worker for the session's webhook messages
STRATEGY_NAMES = ("react", "iterative")  # graphs.strategies.STRATEGIES, checked by a test

RESTARTED = (
    "restarted the background worker: the settings changed since it started "
    "(its sessions go on in the new one)"
)


def refresh_background_worker(settings: Settings) -> None:
    """Restart `ask --detach`'s worker if it runs on other settings than these."""
    found = background.status(settings)
    if found is not None and found.alive and not found.current(settings):
        background.spawn_background_worker(settings)
        err.print(RESTARTED)


def log_to_file(settings: Settings, name: str) -> None:
    """The in-process worker logs retries and failures to a file, not over the answer."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=settings.data_dir / name,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        force=True,
    )


def save_report(settings: Settings, report: ResearchReport, out_file: Path | None) -> None:
    """Reports go under DATA_DIR/reports/ (and to --out); their warnings to stderr."""
    for warning in report.report_warnings:
        err.print(f"[yellow]warning:[/yellow] {safe(warning)}")
    from workers.client import check_session_id

    targets = [settings.data_dir / "reports" / f"{check_session_id(report.session_id)}.md"]
    if out_file is not None:
        targets.append(out_file)
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(report.report_markdown or "", encoding="utf-8")
    err.print(f"report written to {', '.join(str(t) for t in targets)}")


async def _wait(sessions: Sessions, session_id: str, live: bool) -> ResearchReport:
    from workers.workflows.models import ResearchReport

    if not live:
        return await sessions.result(session_id)
    report = None
    with Live(
        Text(f"{session_id} starting…"), console=err, refresh_per_second=4, transient=True
    ) as view:
        async for update in sessions.watch(session_id):
            if isinstance(update, ResearchReport):
                report = update
            else:
                view.update(live_view(session_id, update))
    assert report is not None
    return report


async def follow(
    sessions: Sessions,
    session_id: str,
    *,
    as_json: bool,
    detach: bool,
    worker: bool,
    out_file: Path | None = None,
) -> None:
    """Return at once (--detach), or wait for the report, hosting a worker meanwhile."""
    from workers.client.errors import SessionFailed
    from workers.hosting.research_worker import research_worker

    settings = sessions.settings
    if detach:
        if worker and background.spawn_background_worker(settings) == "restarted":
            err.print(RESTARTED)
        out.print(json.dumps({"session_id": session_id}) if as_json else session_id)
        return
    if worker:  # a stale background worker would take this session's tasks too
        refresh_background_worker(settings)
    live = not as_json and err.is_terminal
    async with AsyncExitStack() as stack:
        if worker:
            await stack.enter_async_context(research_worker(settings, sessions.client))
        try:
            report = await _wait(sessions, session_id, live)
        except SessionFailed:
            if worker:
                await settle_webhooks(sessions, session_id)
            raise
        if worker:
            await settle_webhooks(sessions, session_id)
    if report.report_markdown is not None:
        save_report(settings, report, out_file)
    print_report(report, as_json)


async def settle_webhooks(sessions: Sessions, session_id: str) -> None:
    """This process's worker delivers the session's webhook messages before it stops; one
    still failing after WEBHOOK_GRACE seconds is left to the next worker."""
    for sent in await sessions.settle_webhooks(session_id, WEBHOOK_GRACE):
        err.print(
            f"webhook {sent['event']} not delivered yet ({sent.get('error') or 'retrying'}); "
            "a running `deepresearch worker` goes on trying"
        )


async def _ask(
    options: AskOptions,
    session_id: str | None,
    *,
    as_json: bool,
    detach: bool,
    worker: bool,
    report_out: Path | None,
) -> None:
    from activities.llm import probe
    from workers.client import Sessions, check_session_id, validate
    from workers.hosting.research_worker import research_endpoint

    settings = load_settings()
    log_to_file(settings, "ask.log")
    validate(settings, options)
    if session_id is not None:
        check_session_id(session_id)
    if worker:
        await probe(research_endpoint(settings))
    sessions = await Sessions.connect(settings)
    started = await sessions.start(options, session_id)
    if started.status == "completed":
        err.print(f"session {started.session_id} already completed; showing its answer")
    elif started.status == "running" and not as_json:
        err.print(f"attaching to running session {started.session_id}")
    elif started.status == "stopped":
        err.print(
            f"session {started.session_id} has stopped; showing how it ended "
            f"(`deepresearch resume {started.session_id}` continues it)"
        )
    await follow(
        sessions,
        started.session_id,
        as_json=as_json,
        detach=detach,
        worker=worker,
        out_file=report_out,
    )


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
    tenant: Annotated[
        str, typer.Option(help="Whose session (a tenant of DEEPRESEARCH_API_KEYS).")
    ] = "default",
    budget_tokens: Annotated[
        int | None, typer.Option(min=0, help="Most research-model tokens to spend.")
    ] = None,
    budget_usd: Annotated[
        float | None, typer.Option(min=0, help="Most US dollars to spend (DEEPRESEARCH_PRICES).")
    ] = None,
    budget_searches: Annotated[
        int | None, typer.Option(min=0, help="Most search queries to send.")
    ] = None,
    budget_pages: Annotated[int | None, typer.Option(min=0, help="Most pages to read.")] = None,
    on_budget: Annotated[
        str | None,
        typer.Option(
            help="When the budget runs out: answer (the best answer now) or pause (wait for "
            "`deepresearch budget ID --add-...`)."
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(help="Announce the session's events to this URL (Standard Webhooks)."),
    ] = None,
    webhook_events: Annotated[
        str,
        typer.Option(
            help="A comma list of: completed, failed, cancelled, awaiting_approval, "
            "awaiting_budget."
        ),
    ] = "",
    follow_up: Annotated[
        str | None,
        typer.Option(
            "--follow-up",
            help="Go on from this completed session: its conversation and the pages it read.",
        ),
    ] = None,
    plan: Annotated[
        bool,
        typer.Option(
            "--plan",
            help="Draft a research plan first and wait for `deepresearch approve ID` (or "
            "reject; DEEPRESEARCH_PLAN_WAIT, then it goes on with its own plan).",
        ),
    ] = False,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Serve searches and pages from the research cache while fresh "
            "(DEEPRESEARCH_CACHE_TTL); --no-cache fetches everything (and refreshes the cache).",
        ),
    ] = True,
) -> None:
    """Research a question and print the answer with its sources."""

    def options() -> AskOptions:
        from workers.boundary.keys import TENANT
        from workers.client import AskOptions

        if not TENANT.fullmatch(tenant):
            raise CliError(
                f"--tenant {tenant[:40]!r} is not a tenant name (letters, digits, . _ -)"
            )

        if mode not in ("react", "heavy") or synthesis not in ("select", "fuse"):
            raise CliError("--mode is react or heavy; --synthesis is select or fuse")
        if on_budget not in (None, "answer", "pause"):
            raise CliError("--on-budget is answer or pause")
        strategies = [name.strip() for name in strategy.split(",")]
        if any(name not in STRATEGY_NAMES for name in strategies) or (
            mode != "heavy" and len(strategies) > 1
        ):
            raise CliError(
                "--strategy is react or iterative "
                "(a comma list such as iterative,react only with --mode heavy)"
            )
        return AskOptions(
            question=question,
            mode=mode,  # type: ignore[arg-type]
            branches=branches,
            synthesis=synthesis,  # type: ignore[arg-type]
            strategies=strategies,  # type: ignore[arg-type]
            report=report,
            max_llm_calls=max_llm_calls,
            files=files or [],
            tenant=tenant,
            budget=budget_of(budget_tokens, budget_usd, budget_searches, budget_pages),
            on_budget=on_budget,  # type: ignore[arg-type]
            webhook=webhook_of(webhook, webhook_events),
            plan=plan,
            follow_up_of=follow_up,
            cache=cache,
        )

    flags = {"as_json": as_json, "detach": detach, "worker": worker, "report_out": report_out}
    run(_ask(run(options), session_id, **flags))


def webhook_of(url: str | None, events: str) -> WebhookRequest | None:
    from activities.webhooks import EVENTS
    from workers.client.inputs import WebhookRequest

    named = [e.strip() for e in events.split(",") if e.strip()]
    if url is None:
        if named:
            raise CliError("--webhook-events needs --webhook URL")
        return None
    unknown = [e for e in named if e not in EVENTS]
    if unknown:
        raise CliError(f"--webhook-events: {unknown[0]!r} is not one of {', '.join(EVENTS)}")
    return WebhookRequest(url=url, events=named or list(EVENTS))  # type: ignore[arg-type]


def budget_of(
    tokens: int | None, usd: float | None, searches: int | None, pages: int | None
) -> Budget:
    from pydantic import ValidationError

    from graphs.budget import Budget

    try:
        return Budget(tokens=tokens, usd=usd, searches=searches, pages=pages)
    except ValidationError as error:  # a number past the bounds
        first = error.errors()[0]
        raise CliError(f"--budget-{first['loc'][0]}: {first['msg']}") from None


async def _resume(session_id: str, as_json: bool, detach: bool, worker: bool) -> None:
    from activities.llm import probe
    from workers.client import Sessions
    from workers.hosting.research_worker import research_endpoint

    settings = load_settings()
    log_to_file(settings, "ask.log")
    if worker:
        await probe(research_endpoint(settings))
    sessions = await Sessions.connect(settings)
    started = await sessions.resume(session_id)
    if not as_json:
        err.print(f"resuming {session_id} at model call {started.resumed_at}")
    await follow(sessions, session_id, as_json=as_json, detach=detach, worker=worker)


@app.command()
def resume(
    session_id: Annotated[str, typer.Argument(help="Id of a failed or terminated session.")],
    as_json: JsonOption = False,
    detach: DetachOption = False,
    worker: WorkerOption = True,
) -> None:
    """Continue a failed session from its last model call, keeping everything done before it."""
    run(_resume(session_id, as_json, detach, worker))


async def _fork(
    session_id: str,
    options: ForkOptions,
    new_id: str | None,
    *,
    as_json: bool,
    detach: bool,
    worker: bool,
) -> None:
    from activities.llm import probe
    from workers.client import Sessions
    from workers.hosting.research_worker import research_endpoint

    settings = load_settings()
    log_to_file(settings, "ask.log")
    if worker:
        await probe(research_endpoint(settings))
    sessions = await Sessions.connect(settings)
    started = await sessions.fork(session_id, options, new_id)
    if not as_json and started.heavy:
        err.print(f"{started.session_id}: the branches of {session_id}, a new synthesis")
    elif not as_json:
        err.print(
            f"{started.session_id}: forked from {session_id} after step {options.at_step}; "
            f"live from step {started.resumed_at}"
        )
    await follow(sessions, started.session_id, as_json=as_json, detach=detach, worker=worker)


@app.command()
def fork(
    session_id: Annotated[str, typer.Argument(help="Id of the session to fork (any status).")],
    at_step: Annotated[
        int | None,
        typer.Option("--at-step", min=1, help="The last of its steps the fork takes over."),
    ] = None,
    synthesis: Annotated[
        str | None,
        typer.Option(
            help="A Heavy session: its branches taken over, its synthesis (select or "
            "fuse) run again."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="The model name its own turns ask the endpoint for.")
    ] = None,
    strategy: Annotated[str | None, typer.Option(help="react or iterative.")] = None,
    dialect: Annotated[str | None, typer.Option(help="tongyi or openai.")] = None,
    question: Annotated[
        str | None, typer.Option(help="A new question in place of the original's.")
    ] = None,
    report: Annotated[bool, typer.Option("--report", help="Also write a report.")] = False,
    tenant: Annotated[
        str | None, typer.Option(help="Whose fork (default: the original's tenant).")
    ] = None,
    new_id: Annotated[str | None, typer.Option("--id", help="The fork's session id.")] = None,
    as_json: JsonOption = False,
    detach: DetachOption = False,
    worker: WorkerOption = True,
) -> None:
    """A new session whose steps 1..K are the original's (from its record: nothing is sent
    again for them), going on live from step K+1 with the changes given; of a Heavy session,
    its branches taken over and its synthesis run again (--synthesis, --model)."""

    def options() -> ForkOptions:
        from pydantic import ValidationError

        from workers.client.inputs import ForkOptions, one_line

        if strategy not in (None, *STRATEGY_NAMES):
            raise CliError("--strategy is react or iterative")
        if dialect not in (None, "tongyi", "openai"):
            raise CliError("--dialect is tongyi or openai")
        if synthesis not in (None, "select", "fuse"):
            raise CliError("--synthesis is select or fuse")
        try:
            return ForkOptions(
                at_step=at_step,
                synthesis=synthesis,  # type: ignore[arg-type]
                model=model,
                strategy=strategy,  # type: ignore[arg-type]
                dialect=dialect,  # type: ignore[arg-type]
                question=question,
                report=report,
                tenant=tenant,
            )
        except ValidationError as error:
            raise CliError(one_line(error)) from None

    flags = {"as_json": as_json, "detach": detach, "worker": worker}
    run(_fork(session_id, run(options), new_id, **flags))


async def _watch(session_id: str, as_json: bool) -> None:
    from workers.client import Sessions

    sessions = await Sessions.connect()
    if await sessions.status(session_id) is None:
        raise CliError(f"no session with id {session_id!r}")
    await follow(sessions, session_id, as_json=as_json, detach=False, worker=False)


@app.command()
def watch(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    as_json: JsonOption = False,
) -> None:
    """Watch a session's live progress, then print its answer (runs no worker)."""
    run(_watch(session_id, as_json))


async def _cancel(session_id: str, reason: str) -> None:
    from workers.client import Sessions

    sessions = await Sessions.connect()
    await sessions.cancel(session_id, reason)
    err.print(f"cancelling {session_id}: the model gives its best answer after the current step")


async def _steer(session_id: str, note: str) -> None:
    from workers.client import Sessions

    if not note.strip():
        raise CliError("the note is empty")
    sessions = await Sessions.connect()
    await sessions.steer(session_id, note)
    err.print(f"note queued for {session_id}: the model sees it before its next turn")


@app.command()
def cancel(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the session's history).")] = "",
) -> None:
    """Stop a session gracefully: no more tool calls, best answer from what it has."""
    run(_cancel(session_id, reason))


@app.command()
def steer(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    note: Annotated[str, typer.Argument(help="A note for the model, seen at its next step.")],
) -> None:
    """Send the model an operator's note."""
    run(_steer(session_id, note))
