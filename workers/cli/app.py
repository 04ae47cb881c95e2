"""The typer app, its consoles and shared options, and the one error path: every failure is a
one-line `error: ...` on stderr with exit code 2 (bad input) or 1 (a failed session)."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from activities.errors import DeepResearchError
from workers.client.errors import SessionError

# Help on a terminal is typer's rich panels at its width; anywhere else (a pipe, a file, an
# agent reading it) plain text, one line per paragraph and option: no boxes cut at 80 columns.
PLAIN_HELP = not sys.stdout.isatty()
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="deepresearch: durable deep-research sessions (ask, show, worker, server, ...).",
    rich_markup_mode=None if PLAIN_HELP else "rich",
    context_settings={"terminal_width": 10_000, "max_content_width": 10_000} if PLAIN_HELP else {},
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
DetachOption = Annotated[bool, typer.Option(help="Print the session id and return.")]
WorkerOption = Annotated[
    bool, typer.Option(help="Run a research worker while waiting (--no-worker: rely on others).")
]


class CliError(Exception):
    """A one-line error for the user about the command line itself (exit code 2)."""

    exit_code = 2


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` and give the exit to raise (the only place errors are printed)."""
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def run(work: Awaitable[T] | Callable[[], T]) -> T:
    """Run a command (a coroutine or a plain callable); every expected failure becomes one
    line on stderr, never a traceback."""
    try:
        if inspect.isawaitable(work):
            return asyncio.run(work)  # type: ignore[arg-type]
        return work()  # type: ignore[operator]
    except (CliError, SessionError) as error:
        raise fail(str(error), error.exit_code) from None
    except DeepResearchError as error:
        raise fail(str(error)) from None
    except OSError as error:  # an unwritable DATA_DIR, a full disk, a port in use
        where = f"{error.filename}: " if error.filename else ""
        raise fail(f"{where}{error.strerror or error}") from None
    except Exception as error:
        from temporalio.service import RPCError  # loaded with the client, when it is used

        if isinstance(error, RPCError):
            raise fail(f"Temporal: {error.message}") from None
        raise
    except KeyboardInterrupt:
        err.print("interrupted; the session keeps its progress (see `deepresearch show ID`)")
        raise typer.Exit(130) from None
