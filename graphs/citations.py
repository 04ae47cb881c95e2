"""Grounded citations: a report may cite only sources the session actually read."""

from __future__ import annotations

import re
from typing import Any

CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
SOURCES_HEADING = re.compile(r"\n#+\s*(Sources|References|参考资料|来源)\s*\n.*\Z", re.S | re.I)


def ground(markdown: str, ledger: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """Keep citations [n] that name a ledger entry (1-based), drop the others with a warning,
    drop the model's own source list and links to pages never read, and append the sources
    list built from the ledger (only the entries cited)."""
    warnings: list[str] = []
    read = {entry["url"] for entry in ledger}
    body = SOURCES_HEADING.sub("", markdown.strip())

    def keep(match: re.Match[str]) -> str:
        numbers = _numbers(match.group(1))
        valid = [n for n in numbers if 1 <= n <= len(ledger)]
        for n in numbers:
            if n not in valid:
                warnings.append(f"removed citation [{n}]: no source {n} was read")
        return f"[{', '.join(map(str, valid))}]" if valid else ""

    body = CITATION.sub(keep, body)

    def unlink(match: re.Match[str]) -> str:
        text, url = match.group(1), match.group(2)
        if url in read:
            return match.group(0)
        warnings.append(f"removed a link to {url}: that page was not read")
        return text

    body = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", unlink, body)
    body = re.sub(r"[ \t]+([.,;:])", r"\1", body)  # a removed citation leaves no gap
    cited = sorted({n for group in CITATION.findall(body) for n in _numbers(group)})
    lines = [f"[{n}] {ledger[n - 1]['url']}" for n in cited]
    body = body.rstrip()
    if lines:
        body += "\n\n## Sources\n\n" + "\n".join(lines)
    return body + "\n", warnings


def _numbers(group: str) -> list[int]:
    return [int(n) for n in re.split(r"\s*,\s*", group)]
