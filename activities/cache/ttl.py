"""How long cached research stays fresh (`DEEPRESEARCH_CACHE_TTL`, parsed by
`workers.config.parse_ttl`): searches and pages apart."""

from __future__ import annotations

from dataclasses import dataclass

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

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
