"""Budget commands: `budget` (top up a session) and `usage` (what sessions spent)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from workers.cli.app import CliError, JsonOption, app, err, out, run
from workers.cli.research import budget_of

if TYPE_CHECKING:
    from graphs.budget import Budget


async def _budget(session_id: str, add: Budget, as_json: bool) -> None:
    from workers.client import Sessions

    if not add.bounded():
        raise CliError("name what to add: --add-tokens, --add-usd, --add-searches or --add-pages")
    sessions = await Sessions.connect()
    raised = await sessions.add_budget(session_id, add)
    shown = raised.model_dump(exclude_none=True)
    if as_json:
        out.print(json.dumps({"session_id": session_id, "budget": shown}))
        return
    err.print(
        f"budget of {session_id} is now "
        + ", ".join(f"{name} {value}" for name, value in shown.items())
    )


@app.command()
def budget(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    add_tokens: Annotated[int | None, typer.Option(min=1, help="Tokens to add.")] = None,
    add_usd: Annotated[float | None, typer.Option(min=0, help="US dollars to add.")] = None,
    add_searches: Annotated[int | None, typer.Option(min=1, help="Searches to add.")] = None,
    add_pages: Annotated[int | None, typer.Option(min=1, help="Pages to add.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Raise a running session's budget; one waiting for it (`awaiting_budget`) goes on."""
    add = run(lambda: budget_of(add_tokens, add_usd, add_searches, add_pages))
    run(_budget(session_id, add, as_json))


async def _usage(tenant: str | None, since: str, as_json: bool) -> None:
    from workers.client import Sessions

    sessions = await Sessions.connect()
    rows = await sessions.usage(since, tenant)
    if as_json:
        out.print(json.dumps({"since": since, "usage": [row.model_dump() for row in rows]}))
        return
    table = Table("tenant", "model", "sessions", "tokens", "searches", "pages", "usd")
    for row in rows:
        spent = row.spent
        table.add_row(
            row.tenant,
            row.model or "-",
            str(row.sessions),
            str(spent.tokens),
            str(spent.searches),
            str(spent.pages),
            f"{spent.usd:.4f}",
        )
    out.print(table if rows else f"no spending recorded in the last {since}")


@app.command()
def usage(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's sessions.")] = None,
    since: Annotated[str, typer.Option(help="How far back: 30m, 12h, 7d.")] = "30d",
    as_json: JsonOption = False,
) -> None:
    """What sessions spent (tokens, searches, pages, dollars), per tenant and model."""
    run(_usage(tenant, since, as_json))
