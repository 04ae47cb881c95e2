"""`deepresearch schedule ...`: questions asked again on a clock (Temporal Schedules), each run a
session that compares itself with the run before."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from workers.cli.app import JsonOption, app, err, out, run
from workers.cli.render import comparison_lines, safe

if TYPE_CHECKING:
    from workers.client.schedules import Schedules, ScheduleView

schedule = typer.Typer(
    no_args_is_help=True, help="Questions asked again on a clock, each run compared with the last."
)
app.add_typer(schedule, name="schedule")
Id = Annotated[str, typer.Argument(help="Schedule id.")]
DONE = {"pause": "paused", "unpause": "unpaused", "trigger": "triggered a run of"}


async def _schedules() -> Schedules:
    from workers.client import Sessions
    from workers.client.schedules import Schedules

    return Schedules(await Sessions.connect())


def print_schedule(view: ScheduleView, as_json: bool) -> None:
    if as_json:
        out.print(json.dumps(view.model_dump()))
        return
    when = f"every {view.every}" if view.every else f"cron {view.cron}"
    state = "paused" if view.paused else "active"
    heavy = " · heavy" if view.mode == "heavy" else ""
    out.print(
        f"{safe(view.id)} · {state} · {safe(when)}{heavy} · notify {view.notify}", highlight=False
    )
    out.print(f"question: {safe(view.question)}", highlight=False)
    if view.next_runs and not view.paused:
        out.print(f"next run: {view.next_runs[0]}", highlight=False)
    for one in view.runs:
        out.print(f"  {safe(one.session_id)}  {one.status}  {one.started[:19]}", highlight=False)
    for line in comparison_lines(view.last_comparison):
        out.print(safe(line), highlight=False)


@schedule.command("create")
def create(
    question: Annotated[str, typer.Argument(help="What to research, again and again.")],
    every: Annotated[str | None, typer.Option(help="An interval: 90s, 30m, 12h, 1d.")] = None,
    cron: Annotated[
        str | None, typer.Option(help="A cron expression (UTC), e.g. '0 8 * * MON'.")
    ] = None,
    report: Annotated[bool, typer.Option("--report", help="Write a long report each run.")] = False,
    mode: Annotated[str, typer.Option(help="react (one session) or heavy (branches).")] = "react",
    branches: Annotated[int, typer.Option(min=1, max=16, help="Heavy mode's branches.")] = 3,
    webhook: Annotated[
        str | None, typer.Option(help="Announce runs to this URL (Standard Webhooks).")
    ] = None,
    notify: Annotated[
        str, typer.Option(help="changed: a webhook only when a run differs; always: every run.")
    ] = "changed",
    tenant: Annotated[str, typer.Option(help="Whose schedule.")] = "default",
    schedule_id: Annotated[str | None, typer.Option("--id", help="Schedule id.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Ask a question on a clock: each run is a session, compared with the run before."""

    async def work() -> ScheduleView:
        from pydantic import ValidationError

        from workers.client import InvalidRequest
        from workers.client.inputs import WebhookRequest, one_line
        from workers.client.schedules import ScheduleOptions

        try:
            options = ScheduleOptions(
                question=question, every=every, cron=cron, report=report, notify=notify,  # type: ignore[arg-type]
                tenant=tenant, id=schedule_id, mode=mode, branches=branches,  # type: ignore[arg-type]
                webhook=WebhookRequest(url=webhook) if webhook else None,
            )  # fmt: skip
        except ValidationError as error:
            raise InvalidRequest(one_line(error)) from None
        return await (await _schedules()).create(options)

    view = run(work())
    if not as_json:
        err.print(f"created schedule {view.id}")
    print_schedule(view, as_json)


@schedule.command("list")
def list_(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every schedule: its question, its clock, paused or not, its next run."""

    async def work() -> list[ScheduleView]:
        return await (await _schedules()).list(tenant)

    views = run(work())
    if as_json:
        out.print(json.dumps({"schedules": [v.model_dump() for v in views]}))
        return
    table = Table("schedule", "state", "when", "next run", "question")
    for view in views:
        when = f"every {view.every}" if view.every else f"cron {view.cron}"
        state = "paused" if view.paused else "active"
        table.add_row(view.id, state, when, (view.next_runs or [""])[0][:19], view.question[:60])
    out.print(table if views else "no schedules")


@schedule.command("show")
def show(schedule_id: Id, as_json: JsonOption = False) -> None:
    """A schedule, its runs (newest first) and the newest run's comparison."""

    async def work() -> ScheduleView:
        return await (await _schedules()).show(schedule_id)

    print_schedule(run(work()), as_json)


def _act(schedule_id: str, verb: str, as_json: bool) -> None:
    async def work() -> ScheduleView | None:
        schedules = await _schedules()
        if verb == "delete":
            await schedules.delete(schedule_id)
            return None
        return await getattr(schedules, verb)(schedule_id)

    view = run(work())
    if view is None:
        err.print(f"deleted schedule {schedule_id} (its runs stay, as sessions)")
        if as_json:
            out.print(json.dumps({"id": schedule_id, "deleted": True}))
        return
    if not as_json:
        err.print(f"{DONE[verb]} schedule {schedule_id}")
    print_schedule(view, as_json)


@schedule.command("pause")
def pause(schedule_id: Id, as_json: JsonOption = False) -> None:
    """No more runs until unpause (a run in progress goes on)."""
    _act(schedule_id, "pause", as_json)


@schedule.command("unpause")
def unpause(schedule_id: Id, as_json: JsonOption = False) -> None:
    """Runs again, from the next time on."""
    _act(schedule_id, "unpause", as_json)


@schedule.command("trigger")
def trigger(schedule_id: Id, as_json: JsonOption = False) -> None:
    """A run now (skipped while the last one still runs)."""
    _act(schedule_id, "trigger", as_json)


@schedule.command("delete")
def delete(schedule_id: Id, as_json: JsonOption = False) -> None:
    """Remove the schedule; its runs stay, as the sessions they are."""
    _act(schedule_id, "delete", as_json)
