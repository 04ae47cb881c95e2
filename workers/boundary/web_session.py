"""The web page's sign-in: a cookie that holds when it was issued, a random id and an HMAC of
both under the key that signed in (never the key itself), so it expires
(DEEPRESEARCH_WEB_SESSION_HOURS) and sign-out revokes it (the id is recorded under the data
directory, which every API process of a deployment shares with its blobs); plus the tokens that
stop another site from forging the sign-in and sign-out forms."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path

from workers.boundary.keys import Caller, KeyRing, find

COOKIE = "deepresearch_session"
CSRF_COOKIE = "deepresearch_csrf"
_CONTEXT = b"deepresearch web session v2|"
_SKEW_SECONDS = 300  # a cookie issued by a replica whose clock runs a little ahead


def _mac(key: str, issued: int, sid: str) -> str:
    return hmac.new(key.encode(), _CONTEXT + f"{issued}.{sid}".encode(), hashlib.sha256).hexdigest()


def _is_hex(value: str, length: int) -> bool:
    return len(value) == length and all(c in "0123456789abcdef" for c in value)


class WebSessions:
    """Issue, check and revoke sign-in cookies for one deployment's keys (a cookie signed by
    a key that has since been removed is refused)."""

    def __init__(self, ring: KeyRing, data_dir: Path, max_age_seconds: float) -> None:
        self.ring = ring
        self.revoked_dir = data_dir / "web" / "revoked"
        self.max_age = int(max_age_seconds)

    def issue(self, key: str) -> str:
        issued, sid = int(time.time()), secrets.token_hex(16)
        return f"v2.{issued}.{sid}.{_mac(key, issued, sid)}"

    @staticmethod
    def _parts(cookie: str) -> tuple[int, str, str] | None:
        version, _, rest = cookie.partition(".")
        issued, _, rest = rest.partition(".")
        sid, _, mac = rest.partition(".")
        if version != "v2" or not issued.isdigit() or not _is_hex(sid, 32) or not _is_hex(mac, 64):
            return None
        return int(issued), sid, mac

    def valid(self, cookie: str) -> Caller | None:
        """The caller of a cookie signed by one of the keys, not expired, not signed out."""
        parts = self._parts(cookie)
        if parts is None:
            return None
        issued, sid, mac = parts
        keys = self.ring.keys
        index = find(mac, [_mac(key, issued, sid) for key in keys])
        if index is None or not -_SKEW_SECONDS <= time.time() - issued <= self.max_age:
            return None
        if (self.revoked_dir / sid).exists():
            return None
        return self.ring.caller_of(keys[index])

    def revoke(self, cookie: str) -> None:
        """Sign-out: this cookie is refused from now on, by every process on this data dir;
        records older than the cookies' lifetime are dropped (those cookies expired anyway)."""
        parts = self._parts(cookie)
        if parts is None or self.valid(cookie) is None:
            return
        self.revoked_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.revoked_dir / parts[1]).touch()
        cutoff = time.time() - self.max_age - _SKEW_SECONDS
        for record in self.revoked_dir.iterdir():
            try:
                if record.stat().st_mtime < cutoff:
                    record.unlink()
            except FileNotFoundError:
                continue


def new_form_token() -> str:
    """The sign-in form's token, also set as the CSRF cookie (double submit)."""
    return secrets.token_hex(16)


def form_token_matches(submitted: str, cookie: str | None) -> bool:
    """Whether the form's hidden token equals the CSRF cookie: another site can neither read
    the cookie nor (SameSite=Strict) make the browser send it."""
    if not cookie:
        return False
    return _is_hex(submitted, 32) and hmac.compare_digest(submitted, cookie)


def sign_out_token(cookie: str) -> str:
    """The sign-out form's token: derived from the (HttpOnly) sign-in cookie, which another
    site cannot read."""
    return hashlib.sha256(b"deepresearch sign-out|" + cookie.encode()).hexdigest()[:32]
