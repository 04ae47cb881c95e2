"""The session layer's errors: each a one-line message for the user, with the kind of failure
that the interfaces map to an exit code (CLI) or an HTTP status (API).

    SessionError
     ├── InvalidRequest      bad input: an empty question, an unknown option (exit 2, 422)
     ├── SessionNotFound     no session with that id (exit 2, 404)
     ├── SessionConflict     the session is in the wrong state for this (exit 2, 409)
     ├── OverBudget          the tenant's day or month budget is spent (exit 2, 429)
     ├── TemporalUnavailable Temporal cannot be reached (exit 2, 503)
     └── SessionFailed       the session itself failed (exit 1, 200 with its failure)
"""

from __future__ import annotations


class SessionError(Exception):
    """Base of the session layer's errors; `exit_code` is the CLI's."""

    exit_code = 2
    http_status = 400


class InvalidRequest(SessionError):
    http_status = 422


class SessionNotFound(SessionError):
    http_status = 404

    def __init__(self, session_id: str) -> None:
        super().__init__(f"no session with id {session_id!r}")
        self.session_id = session_id


class SessionConflict(SessionError):
    http_status = 409


class OverBudget(SessionError):
    http_status = 429


class TemporalUnavailable(SessionError):
    http_status = 503


class SessionFailed(SessionError):
    exit_code = 1
    http_status = 200
