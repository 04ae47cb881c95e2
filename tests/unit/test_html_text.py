"""html_to_text: the one HTML reader of pages, uploaded files and the corpus."""

from __future__ import annotations

from activities.html_text import html_to_text

ARTICLE = """<!doctype html><html><head><title>Tides</title><script>var k = 'hidden';</script>
</head><body><article><h1>Tidal power</h1>
<p>The La Rance barrage has produced electricity since 1966, see
<a href="/rance">the history</a> for details on its turbines and sluices.</p>
<table><tr><th>Site</th><th>MW</th></tr><tr><td>La Rance</td><td>240</td></tr></table>
</article></body></html>"""


def test_main_content_as_markdown_with_links_and_tables() -> None:
    text = html_to_text(ARTICLE, url="https://example.org/tides")
    assert "La Rance barrage has produced electricity since 1966" in text
    assert "[the history](https://example.org/rance)" in text
    assert "| La Rance | 240 |" in text
    assert "hidden" not in text


def test_a_fragment_without_main_content_keeps_its_visible_text() -> None:
    # trafilatura finds no main content in a bare list
    html = "<ul><li>Opening  hours</li><li>9 to 5</li></ul>"
    assert html_to_text(html) == "Opening hours\n9 to 5"


def test_no_words_is_empty() -> None:
    assert html_to_text("<html><head><style>p {}</style></head><body></body></html>") == ""
