"""Who may call: the bearer keys of DEEPRESEARCH_API_KEYS (compared in constant time, at least
MIN_KEY_LENGTH characters), the rule that without a key only loopback is served, and a throttle
on failed attempts per client address (guessing a key costs minutes, not microseconds)."""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from collections import OrderedDict

from activities.errors import ConfigurationError
from workers.config import Settings

MIN_KEY_LENGTH = 16
# Failed key checks one client address may make per window before it is refused (429).
FAILURES_ALLOWED = 10
FAILURE_WINDOW_SECONDS = 60.0
_TRACKED_CLIENTS = 10_000  # the oldest are forgotten first: bounded memory under a flood


class FailedAuth(Exception):
    """429: too many failed key checks from this client; `retry_after` in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed keys from this address; try again in {retry_after} s")
        self.retry_after = retry_after


def api_keys(settings: Settings) -> list[str]:
    """The configured keys (empty: authentication is off, loopback only); ConfigurationError
    for a key too short to resist guessing."""
    raw = settings.api_keys.get_secret_value() if settings.api_keys else ""
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    for number, key in enumerate(keys, 1):
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigurationError(
                f"invalid setting DEEPRESEARCH_API_KEYS: key {number} has {len(key)} characters; "
                f"use at least {MIN_KEY_LENGTH} (e.g. `openssl rand -hex 24`)"
            )
    return keys


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_error(settings: Settings, host: str) -> str | None:
    """Why the API or MCP server may not listen on `host`, or None: without a key only
    loopback."""
    if api_keys(settings) or is_loopback(host):
        return None
    return (
        f"refusing to serve {host} without an API key: set DEEPRESEARCH_API_KEYS "
        "(comma-separated) or bind 127.0.0.1"
    )


def matches(candidate: str, secrets: list[str]) -> bool:
    """Constant time in the candidate and the secrets: every one is compared, always."""
    given = candidate.encode()
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(given, secret.encode())
    return found


class Throttle:
    """Failed attempts per client address in a sliding window, in this process's memory (an
    attacker spreading over replicas gets FAILURES_ALLOWED per replica, still minutes per
    thousand guesses)."""

    def __init__(
        self, allowed: int = FAILURES_ALLOWED, window: float = FAILURE_WINDOW_SECONDS
    ) -> None:
        self.allowed, self.window = allowed, window
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(client, []) if now - t < self.window]
        if times:
            self._failures[client] = times
        else:
            self._failures.pop(client, None)
        return times

    def check(self, client: str) -> None:
        """Raise FailedAuth while `client` has used up its attempts."""
        now = time.monotonic()
        times = self._recent(client, now)
        if len(times) >= self.allowed:
            raise FailedAuth(max(1, math.ceil(self.window - (now - times[0]))))

    def failed(self, client: str) -> None:
        now = time.monotonic()
        self._failures[client] = [*self._recent(client, now), now]
        self._failures.move_to_end(client)
        while len(self._failures) > _TRACKED_CLIENTS:
            self._failures.popitem(last=False)


class KeyRing:
    """One deployment's keys and the throttle on guessing them."""

    def __init__(self, settings: Settings) -> None:
        self.keys = api_keys(settings)
        self.throttle = Throttle()

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def accepts(self, key: str, client: str) -> bool:
        """Whether `key` is one of the keys; raises FailedAuth (before comparing) once this
        client has failed too often."""
        self.throttle.check(client)
        if matches(key, self.keys):
            return True
        self.throttle.failed(client)
        return False
