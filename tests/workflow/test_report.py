"""`ask --report`: a long-form report whose citations all point at pages the session read."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, answer, call

WRITER = "Write a research report that answers the question below"


def test_report_keeps_only_grounded_citations(stack: Stack, tmp_path: Path) -> None:
    pages = [f"{stack.jina.url}/page/acm-{i}" for i in (1, 2)]
    stack.script(QUESTION, [call("visit", {"url": pages, "goal": "who won"}), answer()])
    stack.model.scripts[WRITER] = [
        "# The 2024 Turing Award\n\nBarto and Sutton won it [1] for reinforcement learning "
        "[2, 7]. Some say otherwise [9]; see [this blog](http://never-read.example/post).\n\n"
        "## Sources\n[1] somewhere\n[9] made up\n"
    ]
    out = tmp_path / "report.md"
    result = stack.cli("ask", QUESTION, "--json", "--id", "s-report", "--report", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["answer"] == ANSWER
    markdown = report["report_markdown"]
    assert "won it [1] for reinforcement learning [2]." in markdown
    assert "[7]" not in markdown and "[9]" not in markdown
    assert "never-read.example" not in markdown and "see this blog" in markdown
    assert markdown.rstrip().endswith(f"## Sources\n\n[1] {pages[0]}\n[2] {pages[1]}")
    assert report["report_warnings"] == [
        "removed citation [7]: no source 7 was read",
        "removed citation [9]: no source 9 was read",
        "removed a link to http://never-read.example/post: that page was not read",
    ]
    assert out.read_text() == markdown
    assert (stack.data_dir / "reports" / "s-report.md").read_text() == markdown
    # The writer saw the question, the answer and both pages' evidence as numbered sources.
    (writer,) = [
        r for r in stack.model.research_requests() if WRITER in r.body["messages"][0]["content"]
    ]
    prompt = writer.body["messages"][0]["content"]
    assert f"[1] {pages[0]}\nThe useful information in {pages[0]}" in prompt
    assert f"[2] {pages[1]}" in prompt and ANSWER in prompt
