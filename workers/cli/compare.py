"""`compare`: two sessions side by side from where they diverge."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from workers.cli.app import JsonOption, app, out, run
from workers.cli.render import safe


def _turn(turn: dict[str, Any] | None) -> str:
    if turn is None:
        return ""
    tools = "".join(f"\n  {tool['node']}: {tool['asked']}" for tool in turn["tools"])
    return f"{turn['action']}{tools}"


def print_comparison(result: dict[str, Any]) -> None:
    a, b = result["a"], result["b"]
    at = result["diverge_at_step"]
    if at is None:
        out.print(f"{safe(a['session'])} and {safe(b['session'])}: the same steps", highlight=False)
    else:
        out.print(
            f"{safe(a['session'])} and {safe(b['session'])}: the same for "
            f"{result['same_steps']} step(s), diverging at step {at}",
            highlight=False,
        )
    for one, other in ((a, b), (b, a)):
        origin = one.get("forked_from") or {}
        if origin.get("session") == other["session"] and origin.get("step"):
            out.print(
                f"{safe(one['session'])} is a fork of {safe(other['session'])} at step "
                f"{origin['step']}: its steps 1-{origin['step']} are the original's",
                highlight=False,
            )
    table = Table("step", a["session"], b["session"], show_lines=True)
    left, right = result["a_steps"], result["b_steps"]
    for index in range(max(len(left), len(right))):
        first = left[index] if index < len(left) else None
        second = right[index] if index < len(right) else None
        table.add_row(
            str((first or second or {}).get("step", "")), safe(_turn(first)), safe(_turn(second))
        )
    rows: list[tuple[str, str, str]] = [
        ("answer", str(a["answer"]), str(b["answer"])),
        ("termination", str(a["termination"]), str(b["termination"])),
        ("steps", str(a["steps"]), str(b["steps"])),
        ("tokens spent", str(a["tokens"]), str(b["tokens"])),
        ("tokens from divergence", str(a["tokens_from_divergence"]),
         str(b["tokens_from_divergence"])),
        ("cost spent", f"${a['usd']:.4f}", f"${b['usd']:.4f}"),
    ]  # fmt: skip
    for name, left_value, right_value in rows:
        table.add_row(name, safe(left_value), safe(right_value))
    out.print(table)
    sources = result["sources"]
    for key, label in (("only_a", a["session"]), ("only_b", b["session"])):
        for url in sources[key]:
            out.print(f"only in {safe(label)}: {safe(url)}", highlight=False)
    out.print(f"sources in both: {len(sources['both'])}", highlight=False)


async def _compare(a: str, b: str, as_json: bool) -> None:
    from workers.client import Sessions

    sessions = await Sessions.connect()
    result = await sessions.compare(a, b)
    if as_json:
        out.print_json(json.dumps(result, default=str))
    else:
        print_comparison(result)


@app.command()
def compare(
    a: Annotated[str, typer.Argument(help="A session id (e.g. the original).")],
    b: Annotated[str, typer.Argument(help="Another session id (e.g. its fork).")],
    as_json: JsonOption = False,
) -> None:
    """Two sessions side by side from where they diverge: steps, sources, answers, tokens, cost."""
    run(_compare(a, b, as_json))
