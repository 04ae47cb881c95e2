"""What a scheduled run (a session or a Heavy session started by a schedule) does at its end:
compare itself with the run of its schedule before it, in one activity."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.schedules import CompareRequest, Comparison
    from workers.workflows.models import ResearchReport, ScheduleLink
    from workers.workflows.options import ActivityPolicy, policy_options

COMPARE_TIMEOUT = timedelta(minutes=2)


async def compare_with_last(
    link: ScheduleLink, report: ResearchReport, policy: ActivityPolicy, **options: object
) -> Comparison | None:
    """The run against the one before it; None when the check fails for good (the run
    itself stands)."""
    try:
        return await workflow.execute_activity(
            "schedule.compare",
            CompareRequest(
                schedule_id=link.id,
                session_id=workflow.info().workflow_id,
                answer=report.answer,
                sources=report.sources,
            ),
            result_type=Comparison,
            **policy_options(policy, COMPARE_TIMEOUT, summary="compare: last run", **options),
        )
    except ActivityError:
        return None
