"""Token counts estimated without a tokenizer, for limits and truncation."""

from __future__ import annotations

import math


def estimate_tokens(text: str) -> int:
    """Conservative token estimate for text the server has not counted yet (no tokenizer
    download): one token per 3 UTF-8 bytes overcounts English and roughly matches CJK."""
    return math.ceil(len(text.encode("utf-8")) / 3)


def truncate_tokens(text: str, limit: int) -> str:
    """Cut text to about `limit` tokens by the same estimate (the reference uses tiktoken)."""
    if estimate_tokens(text) <= limit:
        return text
    return text.encode("utf-8")[: limit * 3].decode("utf-8", errors="ignore")
