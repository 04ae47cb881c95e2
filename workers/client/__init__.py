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
