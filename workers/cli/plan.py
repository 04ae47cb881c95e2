"""Plan commands: `approve` (with an edited plan and answers) and `reject` a session that
drafted a plan (`ask --plan`) and waits for the decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from workers.cli.app import CliError, JsonOption, app, err, out, run
from workers.cli.render import plan_lines, safe

if TYPE_CHECKING:
    from graphs.plan import Plan


def print_plan(session_id: str, plan: Plan, as_json: bool) -> None:
    if as_json:
        out.print(json.dumps({"session_id": session_id, "plan": plan.model_dump()}))
        return
    for line in plan_lines(session_id, plan.model_dump()):
        err.print(safe(line), highlight=False)


def read_plan_file(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot read --plan-file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"--plan-file {path} is not UTF-8 text") from None
    if not text.strip():
        raise CliError(f"--plan-file {path} is empty (leave it out to keep the drafted plan)")
    return text


async def _approve(session_id: str, plan: str | None, answers: list[str], as_json: bool) -> None:
    from pydantic import ValidationError

    from graphs.plan import Approval
    from workers.client import Sessions
    from workers.client.inputs import one_line

    try:
        approval = Approval(plan=plan, answers=answers)
    except ValidationError as error:
        raise CliError(one_line(error)) from None
    sessions = await Sessions.connect()
    print_plan(session_id, await sessions.approve(session_id, approval), as_json)


@app.command()
def approve(
    session_id: Annotated[str, typer.Argument(help="Id of a session waiting for approval.")],
    plan_file: Annotated[
        Path | None, typer.Option(help="The plan to research with, edited (text file).")
    ] = None,
    answer: Annotated[
        list[str] | None,
        typer.Option(help="An answer to its clarifying questions, in order (repeatable)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a session's research plan (`ask --plan`): it researches with it at once."""
    plan = run(lambda: read_plan_file(plan_file))
    run(_approve(session_id, plan, answer or [], as_json))


async def _reject(session_id: str, reason: str, as_json: bool) -> None:
    from workers.client import Sessions

    sessions = await Sessions.connect()
    print_plan(session_id, await sessions.reject(session_id, reason), as_json)


@app.command()
def reject(
    session_id: Annotated[str, typer.Argument(help="Id of a session waiting for approval.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the session's history).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Reject a session's research plan: it ends before it researches (termination rejected)."""
    run(_reject(session_id, reason, as_json))
