"""A grounded report's Markdown as safe HTML: raw HTML in it is shown as text, links go to
http(s) pages only, and each citation [n] links to the page that source n read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from markdown_it import MarkdownIt
from markupsafe import Markup

# `graphs/citations.py` appends the cited sources as "## Sources" then "[n] url" lines.
SOURCES = re.compile(r"\n#+\s*Sources\s*\n(?P<lines>(?:\s*\[\d+\]\s+\S+\s*\n?)+)\s*\Z")
SOURCE_LINE = re.compile(r"\[(\d+)\]\s+(\S+)")
CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\](?![(\[])")


@dataclass(frozen=True)
class Source:
    number: int
    url: str

    @property
    def linkable(self) -> bool:
        return self.url.startswith(("http://", "https://"))


def _renderer() -> MarkdownIt:
    md = MarkdownIt("default", {"html": False, "linkify": False, "typographer": False})
    md.validateLink = lambda url: url.startswith(("http://", "https://", "#"))  # type: ignore[method-assign]

    def link_open(self, tokens, index, options, env):  # type: ignore[no-untyped-def]
        token = tokens[index]
        if not str(token.attrGet("href") or "").startswith("#"):
            token.attrSet("target", "_blank")
            token.attrSet("rel", "noopener noreferrer nofollow")
        return self.renderToken(tokens, index, options, env)

    md.add_render_rule("link_open", link_open)
    return md


_MD = _renderer()


def split_sources(markdown: str) -> tuple[str, list[Source]]:
    """The report's body and its sources list."""
    found = SOURCES.search(markdown)
    if found is None:
        return markdown, []
    sources = [Source(int(n), url) for n, url in SOURCE_LINE.findall(found.group("lines"))]
    return markdown[: found.start()], sources


def _destination(url: str) -> str:
    return quote(url, safe=":/?#[]@!$&'*+,;=%-._~")


def report_html(markdown: str) -> tuple[Markup, list[Source]]:
    """The body as HTML with linked citations, and the sources to list below it."""
    body, sources = split_sources(markdown)
    urls = {source.number: source.url for source in sources if source.linkable}

    def link(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*,\s*", match.group(1))]
        if not all(n in urls for n in numbers):
            return match.group(0)
        parts = ", ".join(f"[{n}](<{_destination(urls[n])}>)" for n in numbers)
        return f"\\[{parts}\\]"

    return Markup(_MD.render(CITATION.sub(link, body))), sources
