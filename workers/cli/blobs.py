"""`deepresearch blobs ...`: the blob store's lifecycle (gc)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from workers.cli.app import JsonOption, app, err, fail, out, run
from workers.config import load_settings

if TYPE_CHECKING:  # the session layer loads with the command (CLI start-up stays fast)
    from workers.client.blobs import GcReport

blobs = typer.Typer(
    no_args_is_help=True, help="The blob store (DEEPRESEARCH_BLOB_URL or DATA_DIR)."
)
app.add_typer(blobs, name="blobs")

SAFE = timedelta(hours=1)  # longer than any activity holds a blob before history records it


async def _gc(older_than: timedelta, dry_run: bool) -> GcReport:
    from workers.client import Sessions
    from workers.client.blobs import collect_garbage
    from workers.hosting.blobs import blob_store
    from workers.hosting.research_worker import research_cache

    settings = load_settings()
    sessions = await Sessions.connect(settings)
    return await collect_garbage(
        sessions.client,
        blob_store(settings),
        older_than,
        dry_run=dry_run,
        cache=research_cache(settings),
    )


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


@blobs.command()
def gc(
    older_than: Annotated[
        float,
        typer.Option(
            "--older-than",
            metavar="DAYS",
            help="Delete only blobs last written more than DAYS ago (fractions allowed).",
        ),
    ],
    dry_run: Annotated[bool, typer.Option(help="Report what would go; delete nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete the research cache's entries past DEEPRESEARCH_CACHE_TTL, then the blobs that no
    running or retained session's history and no fresh cache entry references."""
    if not older_than > 0:
        raise fail("--older-than must be more than 0 days")
    cutoff = timedelta(days=older_than)
    if cutoff < SAFE:
        err.print(
            f"warning: --older-than {older_than:g} is under an hour: a blob an activity has "
            "written but not yet reported could go",
            markup=False,
        )
    report = run(_gc(cutoff, dry_run))
    if as_json:
        out.print_json(json.dumps(report.as_json()))
        return
    verb = "would delete" if dry_run else "deleted"
    out.print(
        f"{report.store}: {report.stored} blobs; {report.kept_referenced} referenced by "
        f"{report.histories} histories, {report.kept_cached} by fresh cache entries, "
        f"{report.kept_young} written since {report.cutoff:%Y-%m-%d %H:%M} UTC; {verb} "
        f"{report.deleted} ({_size(report.deleted_bytes)})",
        markup=False,
        highlight=False,
    )
    out.print(
        f"research cache ({load_settings().cache_ttls.describe()}): {report.cache_entries} "
        f"entries, {verb} {report.cache_expired} past their TTL",
        markup=False,
        highlight=False,
    )
    if report.missing:
        err.print(
            f"warning: {report.missing} blobs referenced by histories are not in the store",
            markup=False,
        )
