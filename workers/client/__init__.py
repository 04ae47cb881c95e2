"""The session layer: the one typed Python API over durable research sessions, under the CLI,
the HTTP API and the MCP server. Names load on first use, so a CLI command that needs only the
errors starts fast."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from workers.client.errors import (
    InvalidRequest,
    SessionConflict,
    SessionError,
    SessionFailed,
    SessionNotFound,
    TemporalUnavailable,
)

if TYPE_CHECKING:
    from workers.client.evaluations import Evaluations
    from workers.client.inputs import AskOptions
    from workers.client.sessions import (
        HeavyLive,
        SessionRow,
        Sessions,
        Started,
        check_session_id,
        read_blob,
        validate,
    )

_LAZY = {
    "Evaluations": "workers.client.evaluations",
    "AskOptions": "workers.client.inputs",
    "HeavyLive": "workers.client.sessions",
    "SessionRow": "workers.client.sessions",
    "Sessions": "workers.client.sessions",
    "Started": "workers.client.sessions",
    "check_session_id": "workers.client.sessions",
    "read_blob": "workers.client.sessions",
    "validate": "workers.client.sessions",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AskOptions",
    "Evaluations",
    "HeavyLive",
    "InvalidRequest",
    "SessionConflict",
    "SessionError",
    "SessionFailed",
    "SessionNotFound",
    "SessionRow",
    "Sessions",
    "Started",
    "TemporalUnavailable",
    "check_session_id",
    "read_blob",
    "validate",
]
