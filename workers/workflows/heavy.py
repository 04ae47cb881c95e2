"""HeavyWorkflow: Heavy mode. N research branches run in parallel as child sessions, each with
its own sampling; each branch that answered is condensed into a report, and an integrator reads
the reports and gives the final answer (ParallelMuse's aggregation). A crash re-runs only the
unfinished steps of unfinished branches: each branch is a durable session of its own."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError, FailureError
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from activities.heavy import BranchReportRequest, IntegrateRequest
    from graphs import prompts
    from graphs.heavy import branch_strategy, branch_temperature, usable
    from graphs.state import add_sources
    from workers.workflows import search_attributes as attrs
    from workers.workflows.models import ResearchInput, ResearchReport
    from workers.workflows.options import WRITING_TIMEOUT, policy_options
    from workers.workflows.reports import assemble, write_report
    from workers.workflows.research import ResearchWorkflow, root_message
    from workers.workflows.scheduled import compare_with_last
    from workers.workflows.webhooks import Sent, announce


class HeavyInput(BaseModel):
    version: int = 1
    session: ResearchInput  # the question and the settings every branch starts from
    branches: int = Field(3, ge=1, le=16)
    synthesis: Literal["select", "fuse"] = "select"
    # Branch k runs strategies[k % len(strategies)]: one for all, or e.g. iterative, react.
    strategies: list[Literal["react", "iterative"]] = Field(
        default_factory=lambda: ["react"], min_length=1
    )
    task_queue: str
    # A synthesis fork (`fork ID --synthesis`): the original's branches that answered, taken
    # over (no branch runs); its reports and integration run again, with `model` if named.
    taken: list[ResearchReport] | None = None
    forked_from: str | None = None
    model: str | None = None


class BranchStatus(BaseModel):
    branch: int
    session_id: str
    temperature: float
    strategy: str = "react"
    status: str = "running"  # running | answered | no answer | failed
    answer: str = ""


class HeavyProgress(BaseModel):
    branches: list[BranchStatus] = Field(default_factory=list)
    stage: str = "research"  # research | reports | integration | report | done
    cancelling: str | None = None
    webhooks: list[Sent] = Field(default_factory=list)


@workflow.defn(name="HeavyWorkflow")
class HeavyWorkflow:
    def __init__(self) -> None:
        self._progress = HeavyProgress()
        self._cancelled: str | None = None
        self._notes: list[str] = []
        self._children: dict[int, ChildWorkflowHandle[Any, ResearchReport]] = {}

    @workflow.query
    def progress(self) -> HeavyProgress:
        return self._progress

    @workflow.signal
    async def cancel(self, reason: str = "") -> None:
        """Every running branch stops gracefully and gives its best answer; the reports and
        the integration then run on what the branches have."""
        self._cancelled = reason.strip() or "cancelled by the operator"
        self._progress.cancelling = self._cancelled
        await self._forward(ResearchWorkflow.cancel, self._cancelled)

    @workflow.signal
    async def steer(self, note: str) -> None:
        """An operator's note for every running branch."""
        if note.strip():
            self._notes.append(note.strip())
            await self._forward(ResearchWorkflow.steer, note.strip())

    async def _forward(self, signal: Any, value: str) -> None:
        for k, child in list(self._children.items()):
            if self._progress.branches[k].status == "running":
                await self._signal(child, signal, value)

    @staticmethod
    async def _signal(child: ChildWorkflowHandle[Any, Any], signal: Any, value: str) -> None:
        try:
            await child.signal(signal, value)
        except FailureError:
            pass  # the branch finished meanwhile

    async def _branch(self, request: HeavyInput, status: BranchStatus) -> ResearchReport | None:
        sampling = request.session.sampling.model_copy(
            update={"temperature": status.temperature, "seed": status.branch}
        )
        session = request.session.model_copy(
            update={
                "sampling": sampling,
                "strategy": status.strategy,
                "return_trajectory": True,
                "report": False,
                "webhook": None,  # the Heavy session announces itself, not each branch
                "schedule": None,  # and compares itself with its schedule's last run
            }
        )
        try:
            child = await workflow.start_child_workflow(
                ResearchWorkflow.run, session, id=status.session_id, task_queue=request.task_queue
            )
            # What came before the branch started; what comes later `_forward` sends.
            notes, cancelled = list(self._notes), self._cancelled
            self._children[status.branch] = child
            for note in notes:
                await self._signal(child, ResearchWorkflow.steer, note)
            if cancelled:
                await self._signal(child, ResearchWorkflow.cancel, cancelled)
            report = await child
        except ChildWorkflowError as error:
            status.status, status.answer = "failed", str(error.cause or error)
            return None
        answered = usable(report.answer, report.termination)
        status.status = "answered" if answered else "no answer"
        status.answer = report.answer
        return report if answered else None

    def _activity_options(self, request: HeavyInput, summary: str) -> dict[str, Any]:
        policy = request.session.activities
        return policy_options(
            policy, WRITING_TIMEOUT, task_queue=request.task_queue, summary=summary
        )

    @workflow.run
    async def run(self, request: HeavyInput) -> ResearchReport:
        try:
            report = await self._research(request)
        except FailureError as error:  # no branch answered, or an aggregation failed for good
            await self._announce(request, "failed", status="failed", error=root_message(error))
            raise
        link = request.session.schedule
        if link is not None:
            report.schedule_id = link.id
            report.comparison = await compare_with_last(
                link, report, request.session.activities, task_queue=request.task_queue
            )
        compared = {"comparison": report.comparison.model_dump()} if report.comparison else {}
        event = "cancelled" if report.termination == prompts.TERMINATION_CANCELLED else "completed"
        await self._announce(
            request,
            event,
            status="completed",
            termination=report.termination,
            answer=report.answer,
            spent=report.spent.model_dump(),
            **compared,
        )
        if report.comparison is not None and report.comparison.any():
            await self._announce(
                request, "changed", status="completed", answer=report.answer, **compared
            )
        return report

    async def _announce(self, request: HeavyInput, event: str, **data: Any) -> None:
        sent = [s.model_dump() for s in self._progress.webhooks]
        session = request.session
        await announce(
            session.webhook,
            session.tenant,
            event,
            sent,
            session.activities.retry_initial_seconds,
            question=session.question[:300],
            **data,
        )
        self._progress.webhooks = [Sent(**s) for s in sent]

    async def _research(self, request: HeavyInput) -> ResearchReport:
        started = workflow.now()
        session_id = workflow.info().workflow_id
        session = request.session
        attrs.upsert_session(session.indexed, session.model, session.protocol, session.question)
        self._progress.branches = [
            BranchStatus(
                branch=k,
                session_id=f"{session_id}-b{k}",
                temperature=branch_temperature(k, request.branches),
                strategy=branch_strategy(k, request.strategies),
            )
            for k in range(request.branches)
        ]
        if request.taken is not None:  # a synthesis fork: the original's branches
            self._progress.branches = [
                BranchStatus(branch=k, session_id=report.session_id, temperature=0.0,
                             status="answered", answer=report.answer)
                for k, report in enumerate(request.taken)
            ]  # fmt: skip
            results: list[ResearchReport | None] = list(request.taken)
        else:
            results = await asyncio.gather(
                *(self._branch(request, status) for status in self._progress.branches)
            )
        answered = [report for report in results if report is not None]
        if not answered:
            raise ApplicationError(
                f"none of the {request.branches} branches found an answer", non_retryable=True
            )
        self._progress.stage = "reports"
        reports = await asyncio.gather(
            *(
                workflow.execute_activity(
                    "heavy.report",
                    BranchReportRequest(trajectory=report.trajectory or [], model=request.model),
                    result_type=str,
                    **self._activity_options(request, f"report: branch of {report.session_id}"),
                )
                for report in answered
            )
        )
        self._progress.stage = "integration"
        answer = await workflow.execute_activity(
            "heavy.integrate",
            IntegrateRequest(
                question=request.session.question,
                reports=list(reports),
                synthesis=request.synthesis,
                model=request.model,
            ),
            result_type=str,
            **self._activity_options(request, f"integrate {len(reports)} reports"),
        )
        written = None
        if request.session.report:
            self._progress.stage = "report"
            written = await write_report(
                request.session.question,
                answer,
                add_sources(None, [entry for report in answered for entry in report.ledger or []]),
                request.session.activities,
            )
        self._progress.stage = "done"
        termination = (
            prompts.TERMINATION_CANCELLED if self._cancelled else prompts.TERMINATION_ANSWER
        )
        attrs.upsert_termination(session.indexed, termination)
        own = [] if request.taken is not None else answered  # a fork spent none of them
        report = assemble(
            question=session.question,
            started=started,
            written=written,
            answer=answer,
            termination=termination,
            sources=list(dict.fromkeys(url for report in answered for url in report.sources)),
            llm_calls=sum(r.llm_calls for r in own) + len(answered) + 1 + (written is not None),
            tool_calls=sum(r.tool_calls for r in own),
            prompt_tokens=sum(r.prompt_tokens for r in own),
            completion_tokens=sum(r.completion_tokens for r in own),
            forked_from=request.forked_from,
        )
        return report
