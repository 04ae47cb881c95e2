"""The research cache with real processes: `ask` (its in-process worker) against a real dev
server and the loopback fakes, which log every request. Two sessions with the same question:
the second sends no search and no page request and its model sees byte for byte what the
first's saw, marked cached in `show` and `export`; past the TTL it fetches again; `--no-cache`
fetches; two tenants with private uploads and pages do not see each other's; `blobs gc`
deletes the entries past the TTL."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.conftest import Stack
from tests.fakes.model import message_text
from tests.workflow.test_session import ANSWER, QUESTION, answer, call

FRESH = {"DEEPRESEARCH_CACHE_TTL": "search=1h,pages=1h"}
SHORT = {"DEEPRESEARCH_CACHE_TTL": "search=1s,pages=1s"}


def _script(stack: Stack) -> list[str]:
    return [
        call("search", {"query": ["turing award 2024", "barto sutton"]}),
        call("visit", {"url": [f"{stack.jina.url}/page/turing-1"], "goal": "who won and why"}),
        answer(),
    ]


def _ask(stack: Stack, session_id: str, *args: str, **env: str) -> dict[str, Any]:
    result = stack.cli("ask", QUESTION, "--id", session_id, "--json", *args, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _requests(stack: Stack) -> tuple[int, int, int]:
    """(searches, page reads, extractions) the fakes have answered so far."""
    return (
        len(stack.serper.queries()),
        len(stack.jina.read_targets()),
        len(stack.model.extraction_requests()),
    )


def _tool_responses(stack: Stack, session: int) -> list[str]:
    """What the model saw of the tools in the last turn of the session'th session (from 0):
    the tool responses of its final request, byte for byte."""
    finals = [r for r in stack.model.research_requests() if r.meta.get("turn") == 2]
    return [
        message_text(m)
        for m in finals[session].body["messages"]
        if message_text(m).startswith("<tool_response>")
    ]


def _steps(stack: Stack, session_id: str) -> list[dict[str, Any]]:
    shown = stack.cli("show", session_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return [s for s in json.loads(shown.stdout)["steps"] if s["node"] in ("search", "read")]


def test_a_second_session_is_served_by_the_cache_until_the_ttl(stack: Stack) -> None:
    stack.script(QUESTION, _script(stack))
    first = _ask(stack, "s-cache-1", **FRESH)
    assert first["answer"] == ANSWER and _requests(stack) == (2, 1, 1)
    second = _ask(stack, "s-cache-2", **FRESH)
    assert second["answer"] == ANSWER and second["sources"] == first["sources"]
    assert _requests(stack) == (2, 1, 1)  # no search, no page, no extraction
    responses = _tool_responses(stack, 0)
    assert len(responses) == 2 and _tool_responses(stack, 1) == responses  # byte for byte

    steps = _steps(stack, "s-cache-2")
    assert [s.get("cached") for s in steps] == [["results"], ["results"], ["page", "extraction"]]
    assert all(s["cached_age_s"] >= 0 for s in steps)
    assert not any(s.get("cached") for s in _steps(stack, "s-cache-1"))
    shown = stack.cli("show", "s-cache-2")
    assert "cached page+extraction" in shown.stdout and "cached results" in shown.stdout
    exported = json.loads(stack.cli("export", "s-cache-2").stdout)
    assert [c["node"] for c in exported["cached"]] == ["search", "search", "read"]
    assert "cached" not in json.loads(stack.cli("export", "s-cache-1").stdout)

    time.sleep(1.1)  # the entries are now older than SHORT's TTL
    third = _ask(stack, "s-cache-3", **SHORT)
    assert third["answer"] == ANSWER and _requests(stack) == (4, 2, 2)
    assert _tool_responses(stack, 2) == responses
    assert not any(s.get("cached") for s in _steps(stack, "s-cache-3"))

    fourth = _ask(stack, "s-cache-4", "--no-cache", **FRESH)
    assert fourth["answer"] == ANSWER and _requests(stack) == (6, 3, 3)
    assert not any(s.get("cached") for s in _steps(stack, "s-cache-4"))

    # gc with the short TTL: every entry is past it; with the long one none would be.
    kept = stack.cli("blobs", "gc", "--older-than", "30", "--json", **FRESH)
    assert kept.returncode == 0, kept.stderr
    report = json.loads(kept.stdout)
    assert report["cache_entries"] == 4 and report["cache_expired"] == 0
    time.sleep(1.1)
    swept = stack.cli("blobs", "gc", "--older-than", "30", "--json", **SHORT)
    assert json.loads(swept.stdout)["cache_expired"] == 4
    gone = json.loads(stack.cli("blobs", "gc", "--older-than", "30", "--json", **FRESH).stdout)
    assert gone["cache_entries"] == 0


def test_tenants_do_not_see_each_others_uploads_or_private_pages(
    stack: Stack, tmp_path: Path
) -> None:
    page = f"{stack.jina.url}/page/intranet"  # a loopback host: a private page
    stack.script(
        QUESTION,
        [
            call("parse_file", {"files": ["notes.txt"]}),
            call("search", {"query": ["turing award 2024"]}),
            call("visit", {"url": [page], "goal": "who won"}),
            answer(),
        ],
    )
    notes: dict[str, Path] = {}
    for tenant in ("a", "b"):
        notes[tenant] = tmp_path / tenant / "notes.txt"
        notes[tenant].parent.mkdir()
        notes[tenant].write_text(f"Tenant {tenant}'s private notes: the code word is {tenant}x.")
    args = ("--file", str(notes["a"]), "--tenant", "a")
    _ask(stack, "s-tenant-a", *args, **FRESH)
    assert _requests(stack) == (1, 1, 1)
    _ask(stack, "s-tenant-b", "--file", str(notes["b"]), "--tenant", "b", **FRESH)
    # Public search results are shared (DEEPRESEARCH_CACHE_SHARED); the private page is not.
    assert _requests(stack) == (1, 2, 2)
    seen_a, seen_b = (
        [message_text(m) for m in r.body["messages"]]
        for r in [r for r in stack.model.research_requests() if r.meta.get("turn") == 3]
    )
    assert any("the code word is ax" in m for m in seen_a)
    assert not any("the code word is ax" in m for m in seen_b)
    assert any("the code word is bx" in m for m in seen_b)
    steps = {s["node"]: s.get("cached") for s in _steps(stack, "s-tenant-b")}
    assert steps == {"search": ["results"], "read": None}
    # Tenant a again: its own page from the cache.
    _ask(stack, "s-tenant-a2", *args, **FRESH)
    assert _requests(stack) == (1, 2, 2)
    # Sharing off: tenant b's search is its own too.
    _ask(stack, "s-tenant-b2", "--file", str(notes["b"]), "--tenant", "b",
         DEEPRESEARCH_CACHE_SHARED="false", **FRESH)  # fmt: skip
    assert _requests(stack) == (2, 2, 2)
