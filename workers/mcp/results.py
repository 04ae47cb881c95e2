"""What the MCP tools and resources return: the session layer's reports, statuses and live
progress shaped as MCP results (structured content for clients, readable text for the model)."""

from __future__ import annotations

from typing import Any

from mcp.types import CallToolResult, ResourceLink, TextContent
from pydantic import BaseModel, Field

from graphs.budget import Spent
from graphs.plan import Plan
from workers.client import HeavyLive
from workers.workflows.models import Progress, ResearchReport

REPORT_URI = "deepresearch://sessions/{session_id}/report"


def report_uri(session_id: str) -> str:
    return REPORT_URI.format(session_id=session_id)


class ResearchResult(BaseModel):
    """A finished session: its answer and the pages it rests on."""

    session_id: str
    question: str
    answer: str
    sources: list[str] = Field(description="URLs of the pages the session read.")
    termination: str = Field(description="Why it stopped: answer, a limit, cancelled, ...")
    report_uri: str = Field(description="The report as an MCP resource.")
    long_report: bool = Field(description="A long-form report was written (report=true).")
    llm_calls: int
    tool_calls: int
    elapsed_seconds: float
    spent: Spent = Field(default_factory=Spent, description="Tokens, searches, pages, dollars.")
    plan: Plan | None = Field(None, description="plan=true: the plan it researched with.")
    forked_from: str | None = Field(None, description="A fork's original session.")
    follow_up_of: str | None = Field(None, description="A follow-up's earlier session.")


class ResearchStatus(BaseModel):
    """A session as `get_research` sees it: live progress while it runs, then its result or
    why it stopped."""

    session_id: str
    status: str = Field(description="running, completed, failed, cancelled, terminated, ...")
    progress: dict[str, Any] | None = Field(None, description="Live progress while running.")
    result: ResearchResult | None = None
    error: str | None = None


class Started(BaseModel):
    session_id: str
    status: str = Field(
        description="started, running (attached), completed (already done) or stopped (failed, "
        "terminated or timed out: nothing new was started)."
    )


def research_result(report: ResearchReport) -> ResearchResult:
    return ResearchResult(
        session_id=report.session_id,
        question=report.question,
        answer=report.answer,
        sources=report.sources,
        termination=report.termination,
        report_uri=report_uri(report.session_id),
        long_report=report.report_markdown is not None,
        llm_calls=report.llm_calls,
        tool_calls=report.tool_calls,
        elapsed_seconds=report.elapsed_seconds,
        spent=report.spent,
        plan=report.plan,
        forked_from=report.forked_from,
        follow_up_of=report.follow_up_of,
    )


def answer_markdown(report: ResearchReport) -> str:
    """The answer with its numbered sources: the report resource when no long report was
    asked, and the text a model reads in a tool result."""
    lines = [f"**Question:** {report.question}", "", f"**Answer:** {report.answer}"]
    if report.sources:
        lines += ["", "**Sources:**"]
        lines += [f"[{n}] {url}" for n, url in enumerate(report.sources, start=1)]
    return "\n".join(lines) + "\n"


def report_markdown(report: ResearchReport) -> str:
    """The report resource: the long report when one was asked, else the answer and sources."""
    return report.report_markdown if report.report_markdown is not None else answer_markdown(report)


def result_content(report: ResearchReport) -> CallToolResult:
    """A finished session as a tool result: the answer as text, a link to the report
    resource, the structured `ResearchResult`."""
    result = research_result(report)
    text = answer_markdown(report) + (
        f"\nsession {report.session_id} · {report.termination} · {report.llm_calls} model "
        f"calls · {report.tool_calls} tool calls · {report.elapsed_seconds:.1f}s"
    )
    if result.long_report:
        text += f"\nThe long-form report is the resource {result.report_uri}"
    link = ResourceLink(
        uri=result.report_uri,
        name=f"{report.session_id} report",
        mime_type="text/markdown",
        description="The long-form report" if result.long_report else "The answer with sources",
    )
    return CallToolResult(
        content=[TextContent(text=text), link],
        structured_content=result.model_dump(mode="json"),
    )


def progress_dict(progress: Progress | HeavyLive) -> dict[str, Any]:
    if isinstance(progress, HeavyLive):
        running = {str(b): p.model_dump(mode="json") for b, p in progress.running.items()}
        return {**progress.progress.model_dump(mode="json"), "running": running}
    return progress.model_dump(mode="json")


def progress_message(session_id: str, progress: Progress | HeavyLive) -> str:
    """One line of live progress, as the CLI's live view shows it."""
    if isinstance(progress, HeavyLive):
        branches = progress.progress.branches
        done = sum(1 for b in branches if b.status != "running")
        stage = progress.progress.stage
        return f"{session_id}: heavy mode · {stage} · {done}/{len(branches)} branches done"
    line = (
        f"{session_id}: step {progress.step} · {progress.node} · {progress.llm_calls} model "
        f"calls, {progress.tool_calls} tool calls, {progress.sources} sources"
    )
    action = " ".join(progress.last_action.split())[:120]
    return f"{line} · {action}" if action else line


def status_content(
    session_id: str,
    status: str,
    *,
    report: ResearchReport | None = None,
    live: Progress | HeavyLive | None = None,
    error: str | None = None,
) -> CallToolResult:
    """`get_research`'s result: a finished session as `deep_research` gives it, or its status
    with live progress, or why it stopped; the structured content is a `ResearchStatus`."""
    structured = ResearchStatus(
        session_id=session_id,
        status=status,
        progress=None if live is None else progress_dict(live),
        result=None if report is None else research_result(report),
        error=error,
    ).model_dump(mode="json")
    if report is not None:
        finished = result_content(report)
        finished.structured_content = structured
        return finished
    if error is not None:
        text = f"{session_id} is {status}: {error}"
    elif live is not None:
        text = f"{session_id} is {status}. {progress_message(session_id, live)}"
        plan = getattr(live, "plan", None)
        if plan is not None and plan.status == "awaiting_approval":
            text += "\n" + plan_text(session_id, plan)
    else:
        text = f"{session_id} is {status}; no worker has reported its progress yet."
    if status == "running":
        text += "\nCall get_research again later for its result."
    return CallToolResult(content=[TextContent(text=text)], structured_content=structured)


def plan_text(session_id: str, plan: Plan) -> str:
    """A plan waiting for its decision, and how to decide (the tools)."""
    lines = [f"Research plan, waiting for approval:\n{plan.plan}"]
    lines += [f"Clarifying question {n}: {q}" for n, q in enumerate(plan.questions, start=1)]
    lines.append(
        f"approve_plan(id={session_id!r}, plan=..., answers=[...]) researches with it (edited "
        f"or as drafted); reject_plan(id={session_id!r}) ends the session."
    )
    return "\n".join(lines)
