"""What every workflow returns: the long-form report activity and the assembly of its
`ResearchReport` (timings, counts, report fields) in one place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.report import ReportRequest, WrittenReport
    from workers.workflows.models import ResearchReport
    from workers.workflows.options import WRITING_TIMEOUT, ActivityPolicy, policy_options


async def write_report(
    question: str, answer: str, ledger: list[dict[str, Any]], policy: ActivityPolicy
) -> WrittenReport:
    """`--report`: the long-form report, written from the ledger of pages read."""
    return await workflow.execute_activity(
        "report.write",
        ReportRequest(question=question, answer=answer, ledger=ledger),
        result_type=WrittenReport,
        **policy_options(policy, WRITING_TIMEOUT, summary=f"report: from {len(ledger)} sources"),
    )


def assemble(
    *, question: str, started: datetime, written: WrittenReport | None, **fields: Any
) -> ResearchReport:
    """The workflow's result, finished now: `fields` are the answer, termination, sources and
    counts; the session id, timings and the written report are added here."""
    finished = workflow.now()
    return ResearchReport(
        session_id=workflow.info().workflow_id,
        question=question,
        started_at=started.isoformat(),
        finished_at=finished.isoformat(),
        elapsed_seconds=(finished - started).total_seconds(),
        report_markdown=written.markdown if written else None,
        report_warnings=written.warnings if written else [],
        **fields,
    )
