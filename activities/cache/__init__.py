"""The shared research cache: search results, pages and extractions over the blob store."""

from activities.cache.store import (
    PREFIX,
    PUBLIC,
    CacheUse,
    Hit,
    Record,
    ResearchCache,
    Served,
    Sweep,
    entry_name,
    normalize_query,
)
from activities.cache.ttl import CacheTtl

__all__ = [
    "PREFIX",
    "PUBLIC",
    "CacheTtl",
    "CacheUse",
    "Hit",
    "Record",
    "ResearchCache",
    "Served",
    "Sweep",
    "entry_name",
    "normalize_query",
]
