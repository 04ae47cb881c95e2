"""HTML to readable text, one way for every reader of HTML (pages, uploaded files, the corpus).

trafilatura finds the main content as Markdown, keeping links and tables and favouring recall
(a research agent would rather see a footer than miss a paragraph); when it finds nothing (a page
of scripts, a fragment) the visible text is kept instead, so a page never reads as empty when a
person would see words on it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import trafilatura


class _VisibleText(HTMLParser):
    """Visible text only: scripts, styles and the head dropped, block elements on own lines."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "head"})
    _BLOCK = frozenset(
        "p div br li tr h1 h2 h3 h4 h5 h6 section article header footer table ul ol pre".split()
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """Every visible line of `html`, whitespace squeezed, empty lines dropped."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    lines = (re.sub(r"[ \t\xa0]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def html_to_text(html: str, url: str | None = None) -> str:
    """The main content of `html` as Markdown (links and tables kept), else its visible text;
    `url` lets trafilatura resolve relative links. "" when there are no words at all."""
    extracted = trafilatura.extract(
        html,
        url=url,
        output_format="markdown",
        include_links=True,
        include_tables=True,
        favor_recall=True,
    )
    if extracted and extracted.strip():
        return extracted
    return visible_text(html)


__all__ = ["html_to_text", "visible_text"]
