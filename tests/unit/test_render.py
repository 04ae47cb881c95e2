"""The CLI's live line and counts, as a person reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workers.cli.render import plural, progress_line
from workers.workflows.models import Progress


def test_the_live_line_shows_the_running_node_and_a_ticking_clock() -> None:
    started = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    progress = Progress(node="starting", started_at=started.isoformat(), running=["think"])
    early = progress_line("s-1", progress, now=started + timedelta(seconds=2)).plain
    later = progress_line("s-1", progress, now=started + timedelta(seconds=12)).plain
    assert "step 0 · think · " in early and early.rstrip().endswith("· 2s")
    assert later.rstrip().endswith("· 12s")  # a stalled model call still ticks
    finished = progress.model_copy(update={"running": [], "node": "refine"})
    assert "· refine ·" in progress_line("s-1", finished, now=started).plain


def test_counts_are_pluralised() -> None:
    assert plural(1, "model call") == "1 model call"
    assert plural(0, "tool call") == "0 tool calls"
    line = progress_line("s-1", Progress(llm_calls=1, tool_calls=2, tokens=1, sources=1)).plain
    assert "1 model call, 2 tool calls, 1 token, 1 source" in line


def test_the_cli_names_match_the_registries_it_does_not_import() -> None:
    """The CLI checks names against tuples so its start-up imports no graph or SDK code."""
    from graphs.strategies import STRATEGIES
    from workers.cli.inspect import STATUSES
    from workers.cli.mcp import TRANSPORT_NAMES
    from workers.cli.research import STRATEGY_NAMES
    from workers.client.sessions import STATUSES as LIST_STATUSES
    from workers.mcp import TRANSPORTS

    assert set(STRATEGY_NAMES) == set(STRATEGIES)
    assert set(STATUSES) == set(LIST_STATUSES)
    assert set(TRANSPORT_NAMES) == set(TRANSPORTS)


def test_starting_the_cli_imports_no_heavy_library() -> None:
    """`deepresearch --help`, `list`, `show` start fast because the command modules load the
    session layer, the graph, the model client and the SDKs only when a command runs."""
    import subprocess
    import sys

    heavy = [
        "langgraph",
        "openai",
        "mcp",
        "fastapi",
        "obstore",
        "matplotlib",
        "workers.client.sessions",
    ]
    code = f"import sys, workers.cli; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
