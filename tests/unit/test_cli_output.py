"""What the CLI prints where it fits: one clean line per failure, reports once, tables at the
terminal's width with ids whole, help without boxes outside a terminal."""

from __future__ import annotations

import io
import subprocess

from rich.console import Console

from activities.errors import error_detail, status_error
from tests.conftest import CLI, REPO
from workers.cli.render import print_report, print_sessions
from workers.client.sessions import SessionRow
from workers.workflows.models import ResearchReport
from workers.workflows.research import root_message

REPORT = "# Title\n\nA long paragraph " + "that goes on " * 12 + "[1].\n\n- an item" + " x" * 50


def test_a_failure_is_its_message_once() -> None:
    body = '{"error": {"message": "no script for question \'Q\'", "type": "invalid_request_error"}}'
    error = status_error("model endpoint", 400, None, body)
    assert str(error).startswith("HTTP400: ")  # temporalio's str() puts the type first
    assert root_message(error) == "model endpoint answered HTTP 400: no script for question 'Q'"


def test_error_bodies_become_one_line() -> None:
    assert error_detail('{"message": "Unauthorized."}') == "Unauthorized."
    assert error_detail('{"detail": "Not Found"}') == "Not Found"
    assert error_detail('{"error": "quota"}') == "quota"
    assert error_detail("<html>\n <body>Bad\n gateway</body>\n</html>") == (
        "<html> <body>Bad gateway</body> </html>"
    )
    assert len(error_detail("x" * 500)) == 200


def _report(markdown: str | None) -> ResearchReport:
    return ResearchReport(
        session_id="s-" + "long-id-" * 8, question="Q?", answer="A.", termination="answer",
        sources=["http://a/1"], started_at="", finished_at="", elapsed_seconds=1.0,
        report_markdown=markdown,
    )  # fmt: skip


def test_a_report_prints_once_as_written_into_a_pipe() -> None:
    buffer = io.StringIO()
    print_report(_report(REPORT), as_json=False, console=Console(file=buffer, soft_wrap=True))
    lines = buffer.getvalue().splitlines()
    assert lines[:-1] == REPORT.rstrip().splitlines()  # unwrapped, uncut, markdown kept
    assert lines[-1].startswith("s-long-id-") and "answer · " in lines[-1]
    assert "Question:" not in buffer.getvalue()


def test_without_a_report_the_answer_and_sources() -> None:
    buffer = io.StringIO()
    print_report(_report(None), as_json=False, console=Console(file=buffer, soft_wrap=True))
    assert buffer.getvalue().splitlines()[:4] == [
        "Question: Q?", "Answer: A.", "Sources:", "  [1] http://a/1"
    ]  # fmt: skip


def test_the_terminal_table_keeps_ids_whole() -> None:
    session_id = "research-" + "0123456789abcdef" * 3
    row = SessionRow(session_id=session_id, status="completed", started="2026-12-01T10:00:00",
                     steps=3, termination="answer", question="word " * 40)  # fmt: skip
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=140, color_system=None)
    print_sessions([row], console)
    lines = buffer.getvalue().splitlines()
    assert session_id in lines[1]
    assert all(len(line) <= 140 for line in lines) and lines[1].rstrip().endswith("…")


def test_help_outside_a_terminal_is_plain_text() -> None:
    for args in (["--help"], ["ask", "--help"], ["demo", "--help"]):
        done = subprocess.run([*CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0
        assert not any(ch in done.stdout for ch in "╭│╰─")  # no rich panels
    ask = [line.strip() for line in done.stdout.splitlines()]
    assert any(line.startswith("--serve") and line.endswith("to try by hand.") for line in ask)
