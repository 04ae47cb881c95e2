"""The boundary of the HTTP API and of MCP over HTTP, shared by both: which keys are accepted
(`keys`), which requests reach the application at all (`guard`: Host allow-list, cross-site and
content-type rules, body caps) and the web page's signed, revocable sign-in (`web_session`)."""

from workers.boundary.guard import Guard, Policy, RequireKey
from workers.boundary.keys import (
    FailedAuth,
    KeyRing,
    api_keys,
    bind_error,
    is_loopback,
)

__all__ = [
    "FailedAuth",
    "Guard",
    "KeyRing",
    "Policy",
    "RequireKey",
    "api_keys",
    "bind_error",
    "is_loopback",
]
