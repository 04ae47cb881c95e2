"""The session layer: the one typed Python API over durable research sessions, under the CLI,
the HTTP API and the MCP server."""

from workers.client.errors import (
    InvalidRequest,
    SessionConflict,
    SessionError,
    SessionFailed,
    SessionNotFound,
    TemporalUnavailable,
)
from workers.client.evaluations import Evaluations
from workers.client.events import SessionEvent, session_events
from workers.client.inputs import AskOptions
from workers.client.sessions import HeavyLive, SessionRow, Sessions, Started, read_blob, validate
from workers.client.views import (
    SessionPage,
    SessionView,
    list_page,
    progress_data,
    session_view,
    temporal_reachable,
)

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
    "Sessions",
    "SessionView",
    "Started",
    "TemporalUnavailable",
    "list_page",
    "progress_data",
    "read_blob",
    "session_events",
    "session_view",
    "temporal_reachable",
    "validate",
]
