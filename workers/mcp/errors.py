"""The MCP server's one error path: the session layer's `SessionError`s, configuration errors,
Temporal's RPC errors and arguments that fail a tool's schema become one-line tool (or
resource) errors; anything else is a crash the SDK reports without its traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from pydantic import ValidationError
from temporalio.service import RPCError

from activities.errors import DeepResearchError
from workers.client import SessionError, SessionNotFound
from workers.client.inputs import one_line


def message(error: BaseException) -> str:
    """The error as the one line a user (or a model) reads."""
    if isinstance(error, RPCError):
        text = f"Temporal: {error.message}"
    elif isinstance(error, ValidationError):
        text = one_line(error)
    else:
        text = str(error)
    return " ".join(text.split())


EXPECTED = (SessionError, DeepResearchError, RPCError, ValidationError)


@contextmanager
def tool_errors() -> Iterator[None]:
    """Expected failures inside a tool become a tool error (`is_error`) with one line."""
    try:
        yield
    except EXPECTED as error:
        raise ToolError(message(error)) from None


@contextmanager
def resource_errors() -> Iterator[None]:
    """Expected failures reading a resource: an unknown session is 'not found' (-32602),
    the rest a resource error, each with one line."""
    try:
        yield
    except SessionNotFound as error:
        raise ResourceNotFoundError(message(error)) from None
    except EXPECTED as error:
        raise ResourceError(message(error)) from None


def argument_error(tool: str, error: ToolError) -> ToolError | None:
    """A one-line replacement for the SDK's multi-line schema error, when that is what
    `error` is."""
    cause = error.__cause__
    if isinstance(cause, ValidationError):
        return ToolError(f"invalid arguments for {tool}: {message(cause)}")
    return None
