"""EvalWorkflow: one evaluation run = one workflow that fans out a research session per
(question, rollout) as child workflows, at most `concurrency` at a time, and judges each answer.
Ids are deterministic, so re-running the same command re-attaches to the run and nothing that
finished runs again."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.judge import JudgeRequest, Verdict
    from graphs.prompts import FAILED_PREDICTION
    from workers.eval.data import EvalItem
    from workers.workflows.models import ResearchInput, ResearchReport
    from workers.workflows.options import JUDGE_TIMEOUT, policy_options
    from workers.workflows.research import ResearchWorkflow, root_message


class EvalInput(BaseModel):
    version: int = 1
    run_id: str
    questions: list[EvalItem]
    rollouts: int = Field(3, ge=1)
    concurrency: int = Field(20, ge=1)
    scheme: str = "gaia"
    session: ResearchInput  # the template every session starts from (limits, model, ...)
    task_queue: str
    # Sessions whose (question, rollout) the output files already hold: not run again.
    skip: list[str] = Field(default_factory=list)


class EvalOutcome(BaseModel):
    index: int
    rollout: int
    session_id: str
    report: ResearchReport | None = None
    error: str | None = None
    verdict: Verdict | None = None
    skipped: bool = False  # already in the output files (the client keeps its lines)


class EvalProgress(BaseModel):
    total: int = 0
    finished: int = 0
    running: int = 0
    failed: int = 0
    correct: int = 0
    judge_errors: int = 0


def session_id(run_id: str, index: int, rollout: int) -> str:
    return f"{run_id}-q{index}-r{rollout}"


@workflow.defn(name="EvalWorkflow")
class EvalWorkflow:
    def __init__(self) -> None:
        self._progress = EvalProgress()

    @workflow.query
    def progress(self) -> EvalProgress:
        return self._progress

    async def _one(self, request: EvalInput, item: EvalItem, rollout: int) -> EvalOutcome:
        outcome = EvalOutcome(
            index=item.index,
            rollout=rollout,
            session_id=session_id(request.run_id, item.index, rollout),
        )
        if outcome.session_id in request.skip:
            self._progress.finished += 1
            return outcome.model_copy(update={"skipped": True})
        self._progress.running += 1
        try:
            session = request.session.model_copy(
                update={"question": item.question, "files": item.uploads}
            )
            outcome.report = await workflow.execute_child_workflow(
                ResearchWorkflow.run,
                session,
                id=outcome.session_id,
                task_queue=request.task_queue,
            )
        except ChildWorkflowError as error:
            outcome.error = root_message(error)  # our error (e.g. a tape's miss), not the SDK's
            self._progress.failed += 1
        prediction = outcome.report.answer if outcome.report else FAILED_PREDICTION
        outcome.verdict = await workflow.execute_activity(
            "eval.judge",
            JudgeRequest(
                scheme=request.scheme,
                question=item.question,
                answer=item.answer,
                prediction=prediction,
            ),
            result_type=Verdict,
            **policy_options(
                request.session.activities,
                JUDGE_TIMEOUT,
                task_queue=request.task_queue,
                summary=f"judge: q{item.index} r{rollout}",
            ),
        )
        self._progress.running -= 1
        self._progress.finished += 1
        self._progress.correct += int(outcome.verdict.correct)
        self._progress.judge_errors += int(outcome.verdict.judge_error)
        return outcome

    @workflow.run
    async def run(self, request: EvalInput) -> list[EvalOutcome]:
        slots = asyncio.Semaphore(request.concurrency)
        self._progress.total = len(request.questions) * request.rollouts

        async def bounded(item: EvalItem, rollout: int) -> EvalOutcome:
            async with slots:
                return await self._one(request, item, rollout)

        work: list[Any] = [
            bounded(item, rollout)
            for rollout in range(1, request.rollouts + 1)
            for item in request.questions
        ]
        return list(await asyncio.gather(*work))
