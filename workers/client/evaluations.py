"""Evaluation runs through the session layer: start or re-attach to a run over a dataset,
watch it, read its state file, write its results."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from activities.judge import Verdict, scheme_for
from workers.client import inputs
from workers.client.errors import InvalidRequest
from workers.client.sessions import BATCH_PRIORITY, Sessions, tenant_options
from workers.client.tapes import SETTINGS
from workers.eval.data import EvalItem
from workers.eval.metrics import Summary
from workers.eval.results import previous_results, write_results
from workers.workflows.evaluation import EvalOutcome, EvalProgress, EvalWorkflow, session_id
from workers.workflows.models import TapeRef

STATE_FILE = "eval.json"


def run_id_for(
    data: Path, items: list[EvalItem], rollouts: int, benchmark: str, replay: str = ""
) -> str:
    """Deterministic: the same dataset, rollouts and benchmark give the same run (and so the
    same session ids), which is what makes re-running a command resume it. A replay's also
    depends on its tape and settings: another prompt, model or dialect is another run."""
    digest = hashlib.sha256()
    digest.update(str(data.resolve()).encode())
    for item in items:
        digest.update(
            json.dumps([item.question, item.answer, [str(f) for f in item.files]]).encode()
        )
    digest.update(f"{rollouts}|{benchmark}".encode())
    if replay:
        digest.update(f"|replay|{replay}".encode())
        return f"replay-{digest.hexdigest()[:12]}"
    return f"eval-{digest.hexdigest()[:12]}"


class Evaluations:
    """`deepresearch eval`'s runs, on a deployment's `Sessions`."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def start(
        self,
        data: Path,
        items: list[EvalItem],
        out: Path,
        *,
        rollouts: int,
        concurrency: int,
        benchmark: str,
        tape: TapeRef | None = None,
    ) -> str:
        """Start the run (or re-attach to it: its id derives from its inputs); its id. With
        `tape`, a replay: every session's web tools answer from it."""
        settings, client = self.sessions.settings, self.sessions.client
        template = inputs.research_input(settings, inputs.AskOptions(question="(template)"), {})
        template = await inputs.stamp(client, settings, template)
        replay = ""
        if tape is not None:
            template = template.model_copy(update={"tape": tape})
            replay = json.dumps(
                [tape.model_dump(), template.model_dump(include=set(SETTINGS), mode="json")],
                sort_keys=True,
            )
        run_id = run_id_for(data, items, rollouts, benchmark, replay)
        try:
            scheme = scheme_for(benchmark)
        except ValueError as error:
            raise InvalidRequest(str(error)) from None
        blobs = self.sessions.blobs
        uploaded = [
            item.model_copy(
                update={"uploads": inputs.upload_files(blobs, settings, list(item.files))}
            )
            for item in items
        ]
        done = previous_results(out, items, rollouts)
        request = inputs.eval_input(
            settings,
            run_id,
            uploaded,
            template,
            rollouts=rollouts,
            concurrency=concurrency,
            scheme=scheme,
            skip=[session_id(run_id, index, rollout) for index, rollout in sorted(done)],
        )
        out.mkdir(parents=True, exist_ok=True)
        state = {"run_id": run_id, "data": str(data.resolve()), "rollouts": rollouts,
                 "benchmark": benchmark, "questions": len(items),
                 "settings": template.model_dump(include=set(SETTINGS), mode="json")}  # fmt: skip
        if tape is not None:
            state["replay"] = tape.model_dump()
        (out / STATE_FILE).write_text(json.dumps(state, indent=2))
        await client.start_workflow(
            EvalWorkflow.run,
            request,
            id=run_id,
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # batch work: its sessions (children, inheriting this) yield to interactive ones
            **tenant_options(template, BATCH_PRIORITY),
        )
        return run_id

    async def watch(
        self, run_id: str, interval: float = 1.0
    ) -> AsyncIterator[EvalProgress | list[EvalOutcome]]:
        """Progress while the run goes on, then its outcomes."""
        handle = self.sessions.client.get_workflow_handle_for(EvalWorkflow.run, run_id)
        result = asyncio.ensure_future(handle.result())
        try:
            while not result.done():
                try:
                    yield await handle.query(EvalWorkflow.progress)
                except RPCError:
                    pass  # no worker has picked the run up yet
                await asyncio.wait({result}, timeout=interval)
            yield await result
        finally:
            result.cancel()

    async def write(
        self, outcomes: list[EvalOutcome], items: list[EvalItem], out: Path, benchmark: str
    ) -> Summary:
        """Write the run's files; skipped sessions keep the lines the files already hold."""
        rollouts = max((outcome.rollout for outcome in outcomes), default=0)
        previous = previous_results(out, items, rollouts)
        return await write_results(self.sessions.client, outcomes, items, out, benchmark, previous)

    async def filled(
        self, outcomes: list[EvalOutcome], items: list[EvalItem], out: Path
    ) -> list[EvalOutcome]:
        """The outcomes with the report and verdict of each session a re-run skipped (from
        its history and the scored lines `out` holds), as a comparison needs them."""
        rollouts = max((outcome.rollout for outcome in outcomes), default=0)
        previous = previous_results(out, items, rollouts)
        done = []
        for outcome in outcomes:
            kept = previous.get((outcome.index, outcome.rollout))
            if outcome.skipped and outcome.report is None and kept is not None:
                report = await self.sessions.result(outcome.session_id)
                judged = kept[1]
                verdict = Verdict(
                    correct=bool(judged.get("correct")),
                    label=str(judged.get("judgement", "")),
                    raw="",
                )
                outcome = outcome.model_copy(update={"report": report, "verdict": verdict})
            done.append(outcome)
        return done

    async def status(self, out: Path) -> tuple[str, str | None, EvalProgress | None]:
        """The run recorded in `out`: its id, status and (running) progress."""
        state_file = out / STATE_FILE
        if not state_file.exists():
            raise InvalidRequest(f"no evaluation in {out} (no {STATE_FILE})")
        run_id = json.loads(state_file.read_text())["run_id"]
        status = await self.sessions.status(run_id)
        progress = None
        if status == "running":
            handle = self.sessions.client.get_workflow_handle_for(EvalWorkflow.run, run_id)
            progress = await handle.query(EvalWorkflow.progress)
        return run_id, status, progress
