"""How the MCP server shapes the session layer's results (pure: no server, no Temporal)."""

from __future__ import annotations

from workers.client import HeavyLive
from workers.mcp.results import (
    ResearchStatus,
    progress_message,
    report_markdown,
    result_content,
    status_content,
)
from workers.workflows.heavy import BranchStatus, HeavyProgress
from workers.workflows.models import Progress, ResearchReport


def report(**fields: object) -> ResearchReport:
    base = {
        "session_id": "r-1",
        "question": "Q?",
        "answer": "A.",
        "termination": "answer",
        "sources": ["https://a.example/1", "https://b.example/2"],
        "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:01:00Z",
        "elapsed_seconds": 60.0,
    }
    return ResearchReport(**{**base, **fields})  # type: ignore[arg-type]


def test_the_report_resource_is_the_long_report_or_the_answer_with_sources() -> None:
    assert report_markdown(report(report_markdown="# Long\n")) == "# Long\n"
    short = report_markdown(report())
    assert "**Answer:** A." in short
    assert "[1] https://a.example/1\n[2] https://b.example/2" in short


def test_a_result_has_text_a_link_and_structured_content() -> None:
    result = result_content(report(report_markdown="# Long\n"))
    text, link = result.content
    assert "**Answer:** A." in text.text  # type: ignore[union-attr]
    assert "The long-form report is the resource deepresearch://sessions/r-1/report" in text.text  # type: ignore[union-attr]
    assert str(link.uri) == "deepresearch://sessions/r-1/report"  # type: ignore[union-attr]
    assert result.structured_content is not None
    assert result.structured_content["long_report"] is True
    assert result.structured_content["sources"] == ["https://a.example/1", "https://b.example/2"]


def test_status_of_a_stopped_session_carries_its_error() -> None:
    result = status_content("r-2", "failed", error="session r-2 failed: HTTP 503")
    status = ResearchStatus.model_validate(result.structured_content)
    assert (status.status, status.result, status.error) == (
        "failed",
        None,
        "session r-2 failed: HTTP 503",
    )
    assert result.content[0].text == "r-2 is failed: session r-2 failed: HTTP 503"  # type: ignore[union-attr]


def test_progress_of_single_and_heavy_sessions() -> None:
    single = Progress(step=3, node="act", llm_calls=2, tool_calls=4, sources=1, last_action="x\ny")
    line = progress_message("r-3", single)
    assert line == "r-3: step 3 · act · 2 model calls, 4 tool calls, 1 sources · x y"
    branches = [
        BranchStatus(branch=0, session_id="r-4-b0", temperature=0.6, status="answered"),
        BranchStatus(branch=1, session_id="r-4-b1", temperature=0.8),
    ]
    heavy = HeavyLive(HeavyProgress(branches=branches), running={1: single})
    assert progress_message("r-4", heavy) == "r-4: heavy mode · research · 1/2 branches done"
    structured = status_content("r-4", "running", live=heavy).structured_content
    assert structured is not None
    assert structured["progress"]["running"]["1"]["step"] == 3
    assert [b["status"] for b in structured["progress"]["branches"]] == ["answered", "running"]
