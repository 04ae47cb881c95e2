"""Untrusted text (a model's answer, a page) cannot drive the terminal."""

from __future__ import annotations

from rich.console import Console

from workers.cli.render import clean, print_report
from workers.workflows.models import ResearchReport

HOSTILE = "ok\x1b[2J\x1b]0;pwned\x07\x1b]8;;http://evil\x1b\\link\x1b[0m\x07\x08\x9b31m done"


def test_clean_strips_escape_sequences_and_controls() -> None:
    assert clean(HOSTILE) == "oklink done"
    assert clean("line 1\n\tline 2") == "line 1\n\tline 2"


def test_a_hostile_answer_is_printed_without_its_escapes() -> None:
    console = Console(record=True, force_terminal=True, width=200)
    report = ResearchReport(
        session_id="s-1", question="Q [bold]x[/bold]", answer=HOSTILE, termination="answer",
        sources=["http://a.example/\x1b[31m"], started_at="", finished_at="", elapsed_seconds=1,
    )  # fmt: skip
    print_report(report, as_json=False, console=console)
    text = console.export_text(styles=False)
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "Answer: oklink done" in text and "Q [bold]x[/bold]" in text
