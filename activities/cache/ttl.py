"""How long cached research stays fresh (`DEEPRESEARCH_CACHE_TTL`): searches and pages apart."""

from __future__ import annotations

import math
from dataclasses import dataclass

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL = 30 * 86400  # past a month a cached page is an archive, not a cache (or a typo)
OFF = ("0", "off", "none", "no", "false")

# The kinds of entry and the TTL each follows: an extraction is only as fresh as its page.
TTL_OF = {"search": "search", "scholar": "search", "page": "pages", "extraction": "pages"}


@dataclass(frozen=True)
class CacheTtl:
    """Seconds an entry is served after it was fetched; 0: that half of the cache is off.

    Defaults: search results off (a query's answer changes by the hour, and a stale news
    result misleads quietly); pages 6 h (most pages change by the day, a session's rereads
    and a team asking around one topic fall within hours)."""

    search: float = 0.0
    pages: float = 6 * 3600.0

    def of(self, kind: str) -> float:
        return float(getattr(self, TTL_OF[kind]))

    def describe(self) -> str:
        return f"search={_shown(self.search)},pages={_shown(self.pages)}"


def _shown(seconds: float) -> str:
    if not seconds:
        return "off"
    for unit in ("d", "h", "m"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds / UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"


def _seconds(text: str, what: str) -> float:
    value, scale = text.strip().lower(), 1
    if value in OFF:
        return 0.0
    if value[-1:] in UNITS:
        value, scale = value[:-1], UNITS[value[-1]]
    try:
        seconds = float(value) * scale
    except ValueError:
        seconds = math.nan
    if not (0 <= seconds <= MAX_TTL and math.isfinite(seconds)):
        raise ValueError(
            f"{what}{text.strip()[:40]!r} is not a TTL: use seconds or a number with s, m, h "
            "or d (at most 30d), or off"
        )
    return seconds


def parse_ttl(text: str) -> CacheTtl:
    """`search=0,pages=6h` (either part alone keeps the other's default), one duration for
    both (`2h`), or `off`; ValueError in one line for anything else."""
    text = text.strip()
    if not text:
        return CacheTtl()
    if "=" not in text:
        both = _seconds(text, "")
        return CacheTtl(search=both, pages=both)
    values = {"search": CacheTtl.search, "pages": CacheTtl.pages}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, _, value = entry.partition("=")
        name = name.strip().lower()
        if name not in values:
            raise ValueError(f"unknown part {name!r}: use search=DURATION,pages=DURATION")
        values[name] = _seconds(value, f"{name}: ")
    return CacheTtl(**values)
