"""Who may call, and as which tenant: the bearer keys of DEEPRESEARCH_API_KEYS (`KEY` for tenant
`default`, or `TENANT=KEY`) and of DEEPRESEARCH_API_KEYS_FILE (read again whenever it changes,
so keys rotate without a restart), compared in constant time, at least MIN_KEY_LENGTH
characters; the rule that without a key only loopback is served; and a throttle on failed
attempts per client address (guessing a key costs minutes, not microseconds)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from activities.errors import ConfigurationError
from workers.config import Settings

MIN_KEY_LENGTH = 16
DEFAULT_TENANT = "default"
TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Failed key checks one client address may make per window before it is refused (429).
FAILURES_ALLOWED = 10
FAILURE_WINDOW_SECONDS = 60.0
_TRACKED_CLIENTS = 10_000  # the oldest are forgotten first: bounded memory under a flood
log = logging.getLogger(__name__)


class FailedAuth(Exception):
    """429: too many failed key checks from this client; `retry_after` in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed keys from this address; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Caller:
    """Whom a request acts for: its tenant, and whether it sees every tenant's sessions."""

    tenant: str = DEFAULT_TENANT
    admin: bool = False


OPERATOR = Caller(DEFAULT_TENANT, admin=True)  # no keys (loopback), or the CLI on the cluster


def parse_entry(entry: str, where: str) -> tuple[str, str]:
    """`TENANT=KEY` or a bare `KEY` (tenant `default`) -> (tenant, key); ConfigurationError in
    one line naming `where`. A bare key may end in `=` (base64 padding); any other `=` makes
    the entry `TENANT=KEY`."""
    name, sep, rest = entry.partition("=")
    if sep and rest.strip("="):
        if not TENANT.fullmatch(name):
            raise ConfigurationError(
                f"invalid setting {where}: tenant {name[:40]!r} is not a tenant name (letters, "
                "digits, '.', '_', '-'; at most 64)"
            )
        tenant, key = name, rest
    else:
        tenant, key = DEFAULT_TENANT, entry
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigurationError(
            f"invalid setting {where}: the key has {len(key)} characters; use at least "
            f"{MIN_KEY_LENGTH} (e.g. `openssl rand -hex 24`)"
        )
    return tenant, key


def parse_keys(entries: list[str], where: str) -> dict[str, str]:
    """Entries (of the setting, or the file's lines) -> {key: tenant}; `where` names entry
    `{number}` in errors."""
    found: dict[str, str] = {}
    for number, entry in enumerate(entries, 1):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        tenant, key = parse_entry(entry, where.format(number=number))
        if key in found and found[key] != tenant:
            raise ConfigurationError(
                f"invalid setting {where.format(number=number)}: the same key is given to two "
                "tenants"
            )
        found[key] = tenant
    return found


def read_keys_file(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise ConfigurationError(
            f"invalid setting DEEPRESEARCH_API_KEYS_FILE: cannot read {path}: {error.strerror}"
        ) from None
    return parse_keys(lines, f"DEEPRESEARCH_API_KEYS_FILE ({path}, line {{number}})")


def api_keys(settings: Settings) -> dict[str, str]:
    """Every configured key and its tenant (empty: authentication is off, loopback only);
    ConfigurationError in one line for a bad entry."""
    raw = settings.api_keys.get_secret_value() if settings.api_keys else ""
    keys = parse_keys(raw.split(","), "DEEPRESEARCH_API_KEYS (entry {number})")
    if settings.api_keys_file is not None:
        keys.update(read_keys_file(settings.api_keys_file))
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


def find(candidate: str, secrets: list[str]) -> int | None:
    """The index of the secret equal to `candidate`, comparing every one (constant time)."""
    given = candidate.encode()
    found = None
    for index, secret in enumerate(secrets):
        if hmac.compare_digest(given, secret.encode()) and found is None:
            found = index
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
    """One deployment's keys, their tenants and the throttle on guessing them. The keys file is
    read again when its modification time or size changes (checked at most once a second); a
    file that no longer parses keeps the keys it had, with an error in the log."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._by_key = api_keys(settings)
        self._file = settings.api_keys_file
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()
        self.admins = frozenset(t.strip() for t in settings.admin_tenants.split(",") if t.strip())
        self.throttle = Throttle()
        for tenant in self.admins:
            if not TENANT.fullmatch(tenant):
                raise ConfigurationError(
                    f"invalid setting DEEPRESEARCH_ADMIN_TENANTS: {tenant[:40]!r} is not a "
                    "tenant name"
                )

    def _file_stamp(self) -> tuple[float, int] | None:
        if self._file is None:
            return None
        try:
            stat = self._file.stat()
        except OSError:
            return None
        return stat.st_mtime, stat.st_size

    def _refresh(self) -> None:
        if self._file is None or time.monotonic() - self._checked < 1.0:
            return
        self._checked = time.monotonic()
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._by_key = api_keys(self._settings)
        except ConfigurationError as error:
            log.error("%s; keeping the keys read before", error)
            return
        log.info("read %d keys from %s", len(self._by_key), self._file)

    @property
    def keys(self) -> list[str]:
        self._refresh()
        return list(self._by_key)

    @property
    def enabled(self) -> bool:
        return bool(self._by_key) or self._file is not None

    def caller(self, tenant: str) -> Caller:
        return Caller(tenant, admin=tenant in self.admins)

    def caller_of(self, key: str) -> Caller | None:
        tenant = self._by_key.get(key)
        return None if tenant is None else self.caller(tenant)

    def accepts(self, key: str, client: str) -> Caller | None:
        """The caller `key` authenticates, or None; raises FailedAuth (before comparing) once
        this client has failed too often."""
        self.throttle.check(client)
        keys = self.keys
        index = find(key, keys)
        if index is not None:
            return self.caller_of(keys[index])
        self.throttle.failed(client)
        return None
