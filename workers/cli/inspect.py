"""Inspection commands: show, list, export, verify."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from workers.cli.app import CliError, JsonOption, app, err, fail, out, run
from workers.cli.render import clean, print_outcome, print_sessions, print_step, print_timeline
from workers.config import load_settings

STATUSES = ("running", "completed", "failed", "cancelled", "terminated", "timed-out")


async def _show(session_id: str, as_json: bool, follow: bool) -> None:
    from workers.client import Sessions

    sessions = await Sessions.connect()
    timeline = await sessions.timeline(session_id, links=not follow)
    if not follow:
        if as_json:
            out.print_json(json.dumps({"session_id": session_id, **timeline}, default=str))
        else:
            print_timeline(session_id, timeline)
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
                print_step(printed, step)
        if timeline["status"] != "running":
            timeline |= await sessions.links(session_id)
            if as_json:
                outcome = {k: v for k, v in timeline.items() if k != "steps"}
                out.print(json.dumps(outcome, default=str), highlight=False)
            else:
                print_outcome(timeline)
            return
        await asyncio.sleep(1.0)
        timeline = await sessions.timeline(session_id, links=False)


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
        from workers.client import read_blob

        data = run(lambda: read_blob(load_settings(), blob))
        text = data.decode("utf-8", errors="replace")
        sys.stdout.write(clean(text) if sys.stdout.isatty() else text)  # a page may hold ESC
        return
    run(_show(session_id, as_json, follow))


async def _list(
    status: str | None,
    since: str | None,
    text: str | None,
    limit: int,
    as_json: bool,
    tenant: str | None = None,
) -> None:
    from workers.client import Sessions

    sessions = await Sessions.connect()
    rows = await sessions.list(status, since, text, limit, tenant)
    if as_json:
        out.print_json(json.dumps([row.model_dump() for row in rows]))
    else:
        print_sessions(rows)


@app.command(name="list")
def list_sessions(
    status: Annotated[str | None, typer.Option(help=f"One of: {', '.join(STATUSES)}.")] = None,
    since: Annotated[str | None, typer.Option(help="Started within, e.g. 30m, 2h, 7d.")] = None,
    query: Annotated[str | None, typer.Option(help="Words in the question.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 50,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's sessions.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List sessions, newest first (every tenant's unless --tenant)."""
    run(_list(status, since, query, limit, as_json, tenant))


async def _bundle(session_id: str, path: Path) -> None:
    from workers.client import Sessions, check_session_id

    check_session_id(session_id)
    sessions = await Sessions.connect()
    data = await sessions.bundle(session_id)
    path.write_bytes(data)
    err.print(f"wrote the provenance bundle of {session_id} to {path} ({len(data)} bytes)")


async def _export(session_ids: list[str], every: bool, output: Path | None) -> None:
    from workers.client import Sessions

    sessions = await Sessions.connect()
    if every:
        session_ids = await sessions.completed()
    if not session_ids:
        raise CliError("name one or more session ids, or --all")
    lines = [
        json.dumps(await sessions.export(session_id), ensure_ascii=False)
        for session_id in session_ids
    ]
    text = "\n".join(lines) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        noun = "trajectory" if len(lines) == 1 else "trajectories"
        err.print(f"wrote {len(lines)} {noun} to {output}")


@app.command()
def export(
    session_ids: Annotated[list[str] | None, typer.Argument(help="Session ids.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every completed session.")] = False,
    format_: Annotated[
        str, typer.Option("--format", help="Record format (tongyi: the reference's JSONL).")
    ] = "tongyi",
    output: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle",
            help="Write one session's provenance bundle (a zip: answer, report, every page "
            "read, histories, manifest) to this file instead.",
        ),
    ] = None,
) -> None:
    """Write completed sessions as JSON lines in the reference agent's trajectory format, or
    one session's provenance bundle (--bundle FILE.zip; check it with `verify`)."""
    if bundle is not None:
        if every or output is not None or len(session_ids or []) != 1:
            raise fail("--bundle takes exactly one session id (and no --all or --out)")
        run(_bundle((session_ids or [])[0], bundle))
        return
    if format_ != "tongyi":
        raise fail(f"unknown --format {format_!r}: choose from tongyi")
    run(_export(session_ids or [], every, output))


@app.command()
def verify(
    path: Annotated[Path, typer.Argument(help="A provenance bundle (export --bundle).")],
) -> None:
    """Re-compute every digest of a provenance bundle; one line per file that does not match
    (exit 1), or `ok` and the manifest's digest (exit 0). Needs no Temporal."""
    from workers.client.bundle import BundleError
    from workers.client.bundle import verify as check

    try:
        found = check(path)
    except BundleError as error:
        raise fail(str(error)) from None
    for line in found.mismatches:
        out.print(line, highlight=False, markup=False)
    if found.mismatches:
        raise fail(f"{len(found.mismatches)} of the bundle's checks failed", 1)
    out.print(
        f"ok: {found.checked} files match the manifest (manifest {found.manifest_digest})",
        highlight=False,
        markup=False,
    )
