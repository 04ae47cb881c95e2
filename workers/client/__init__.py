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
    from workers.client.events import SessionEvent, session_events
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
    from workers.client.views import (
        SessionPage,
        SessionView,
        list_page,
        progress_data,
        session_view,
        temporal_reachable,
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
    "SessionEvent": "workers.client.events",
    "session_events": "workers.client.events",
    "SessionPage": "workers.client.views",
    "SessionView": "workers.client.views",
    "list_page": "workers.client.views",
    "progress_data": "workers.client.views",
    "session_view": "workers.client.views",
    "temporal_reachable": "workers.client.views",
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
    "SessionEvent",
    "SessionFailed",
    "SessionNotFound",
    "SessionPage",
    "SessionRow",
    "SessionView",
    "Sessions",
    "Started",
    "TemporalUnavailable",
    "check_session_id",
    "list_page",
    "progress_data",
    "read_blob",
    "session_events",
    "session_view",
    "temporal_reachable",
    "validate",
]
