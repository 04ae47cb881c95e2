"""Grounding a report's citations in the ledger of pages read."""

from __future__ import annotations

from graphs.citations import ground

LEDGER = [{"url": "http://a.example/1"}, {"url": "http://b.example/2"}]


def test_citations_beyond_the_ledger_are_removed_with_warnings() -> None:
    markdown, warnings = ground("Claim [1, 3]. Other [0]. Fine [2].", LEDGER)
    assert markdown.startswith("Claim [1]. Other. Fine [2].")
    assert warnings == [
        "removed citation [3]: no source 3 was read",
        "removed citation [0]: no source 0 was read",
    ]


def test_the_sources_list_is_rebuilt_from_the_cited_entries() -> None:
    markdown, _ = ground("Only [2].\n\n## References\n[1] http://invented.example\n", LEDGER)
    assert markdown == "Only [2].\n\n## Sources\n\n[2] http://b.example/2\n"


def test_links_only_to_pages_read() -> None:
    text = "[kept](http://a.example/1) and [dropped](http://c.example/x)"
    markdown, warnings = ground(text, LEDGER)
    assert markdown == "[kept](http://a.example/1) and dropped\n"
    assert warnings == ["removed a link to http://c.example/x: that page was not read"]


def test_no_citations_no_sources_section() -> None:
    assert ground("Nothing cited.", LEDGER) == ("Nothing cited.\n", [])
