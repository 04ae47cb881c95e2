"""ResearchWorkflow: one research session = one workflow running the research graph."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from langchain_core.messages import HumanMessage
    from temporalio.langgraph import graph

    from activities.report import ReportRequest, WrittenReport
    from graphs import iterative
    from graphs.protocol import tongyi
    from graphs.state import Control, ResearchState, to_message, to_messages
    from workers import search_attributes as attrs
    from workers.graph import GRAPH_NAME
    from workers.models import (
        HistoryBudget,
        Progress,
        ResearchInput,
        ResearchReport,
        first_message,
    )

RECURSION_LIMIT = 100_000  # supersteps; the session's own limits end it long before


def describe_update(node: str, update: dict[str, Any]) -> str | None:
    """One line for the progress view: what an I/O node just did (None: nothing to say)."""
    if node == "think":
        messages = update.get("messages") or []
        if not messages:
            return None
        message = to_message(messages[-1])
        calls = getattr(message, "tool_calls", [])
        if calls:
            return f"{calls[0]['name']} {json.dumps(calls[0]['args'], ensure_ascii=False)}"[:200]
        return "answered" if tongyi.extract_answer(str(message.content)) is not None else "thought"
    if node in ("search", "scholar"):
        return f"{node}: {len(update.get('observations') or [])} result set(s)"
    if node == "fetch":
        pages = update.get("pages") or []
        return "read " + pages[0].get("url", "") if pages else "a page could not be read"
    if node == "extract":
        return "extracted evidence"
    return None


def trajectory(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The final conversation in the Tongyi format (what Heavy mode's reports read); of an
    iterative session only its last rounds, whose report carries the rest."""
    messages = to_messages(state.get("messages") or [])
    if state.get("strategy") == iterative.NAME:
        messages = iterative.fusion_messages(messages, state.get("workspace_report", ""))
    return tongyi.render(messages, state.get("today", ""))


def resumed(saved: dict[str, Any], fresh: ResearchState, *, fresh_budget: bool) -> ResearchState:
    """A saved state to continue from: after a continue-as-new as it was; after a failure
    (`resume`) with a fresh clock and wall-clock budget from now."""
    state: ResearchState = {**saved}  # type: ignore[typeddict-item]
    state["messages"] = to_messages(saved.get("messages") or [])
    state.setdefault("started", fresh["started"])
    if fresh_budget:
        for key in ("deadline", "clock", "today"):
            state[key] = fresh[key]  # type: ignore[literal-required]
    return state


async def write_report(
    question: str, answer: str, ledger: list[dict[str, Any]], *, heartbeat_seconds: float
) -> WrittenReport:
    """`--report`: the long-form report, written from the ledger of pages read."""
    return await workflow.execute_activity(
        "report.write",
        ReportRequest(question=question, answer=answer, ledger=ledger),
        result_type=WrittenReport,
        start_to_close_timeout=timedelta(minutes=15),
        heartbeat_timeout=timedelta(seconds=heartbeat_seconds),
        retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=30)),
        summary=f"report: from {len(ledger)} sources",
    )


@workflow.defn(name="ResearchWorkflow")
class ResearchWorkflow:
    def __init__(self) -> None:
        self._progress = Progress()
        self._started: datetime | None = None
        self._control: Control = {"cancel": None, "steer": []}
        self._indexed = False

    @workflow.signal
    def cancel(self, reason: str = "") -> None:
        """Graceful stop: no more tool calls; the model gives its best answer from what it has."""
        self._control["cancel"] = reason.strip() or "cancelled by the operator"
        self._progress.cancelling = self._control["cancel"]

    @workflow.signal
    def steer(self, note: str) -> None:
        """An operator's note, delivered to the model before its next turn."""
        if note.strip():
            self._control.setdefault("steer", []).append(note.strip())

    @workflow.query
    def progress(self) -> Progress:
        if self._started is not None:
            elapsed = (workflow.now() - self._started).total_seconds()
            return self._progress.model_copy(update={"elapsed_seconds": elapsed})
        return self._progress

    def _track_update(self, node: str, update: dict[str, Any]) -> None:
        self._progress.node = node
        action = describe_update(node, update)
        if action is not None:
            self._progress.last_action = action

    def _index(self, *updates: Any) -> None:
        if self._indexed:
            workflow.upsert_search_attributes(list(updates))

    def _track_state(self, state: dict[str, Any]) -> None:
        p = self._progress
        if state.get("llm_calls", 0) != p.llm_calls:
            self._index(attrs.STEPS.value_set(state.get("llm_calls", 0)))
        p.llm_calls = p.step = state.get("llm_calls", 0)
        p.tool_calls = state.get("tool_calls", 0)
        p.tokens = state.get("prompt_tokens", 0) + state.get("completion_tokens", 0)
        p.sources = len(state.get("sources") or [])

    def _history_full(self, budget: HistoryBudget) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() >= budget.events
            or info.get_current_history_size() >= budget.bytes
            or info.is_continue_as_new_suggested()
        )

    @workflow.run
    async def run(self, request: ResearchInput) -> ResearchReport:
        if not request.question.strip():
            raise ApplicationError("the question is empty", non_retryable=True)
        now = workflow.now()
        self._indexed = request.indexed
        if request.control is not None:  # carried over a continue-as-new
            self._control = {"cancel": None, "steer": [], **request.control}
        state: ResearchState = {
            "question": request.question,
            "protocol": request.protocol,
            "strategy": request.strategy,
            "started": now.timestamp(),
            "today": now.date().isoformat(),
            "deadline": now.timestamp() + request.limits.wall_clock_seconds,
            "clock": now.timestamp(),
            "limits": request.limits.model_dump(),
            "sampling": request.sampling.model_dump(),
            "messages": [
                HumanMessage(content=first_message(request.question, request.files), id="question")
            ],
            "files": dict(request.files),
            "llm_calls": 0,
            "tool_calls": 0,
        }
        if request.resume_state is not None:
            state = resumed(request.resume_state, state, fresh_budget=not request.continued)
        self._started = datetime.fromtimestamp(state["started"], tz=UTC)
        if not request.continued:
            self._index(
                attrs.MODEL.value_set(request.model or "unknown"),
                attrs.DIALECT.value_set(request.protocol),
                attrs.QUESTION.value_set(request.question[:1000]),
            )
        final: dict[str, Any] = dict(state)
        app = graph(GRAPH_NAME).compile()
        async for mode, chunk in app.astream(
            state,
            config={"recursion_limit": RECURSION_LIMIT},
            context=self._control,
            stream_mode=["updates", "values"],
        ):
            if mode == "values":
                final = chunk
                self._track_state(chunk)
                if self._history_full(request.history):
                    self._control["checkpoint"] = True  # the graph stops before its next turn
                continue
            for node, update in chunk.items():
                if isinstance(update, dict):
                    self._track_update(node, update)
        if not final.get("termination"):  # stopped at a checkpoint: go on in a fresh run
            workflow.continue_as_new(
                request.model_copy(
                    update={
                        "resume_state": final,
                        "continued": True,
                        "control": {k: v for k, v in self._control.items() if k != "checkpoint"},
                    }
                )
            )
        written = None
        if request.report:
            self._progress.node = "report"
            written = await write_report(
                request.question,
                final.get("answer", ""),
                list(final.get("ledger") or []),
                heartbeat_seconds=request.heartbeat_seconds,
            )
        self._progress.done = True
        workflow.metric_meter().create_counter("deepresearch_sessions").add(
            1, {"termination": final.get("termination", "") or "unknown"}
        )
        self._index(attrs.TERMINATION.value_set(final.get("termination", "") or "unknown"))
        finished = workflow.now()
        return ResearchReport(
            session_id=workflow.info().workflow_id,
            question=request.question,
            answer=final.get("answer", ""),
            termination=final.get("termination", ""),
            sources=final.get("sources", []),
            llm_calls=final.get("llm_calls", 0),
            tool_calls=final.get("tool_calls", 0),
            prompt_tokens=final.get("prompt_tokens", 0),
            completion_tokens=final.get("completion_tokens", 0),
            started_at=self._started.isoformat(),
            finished_at=finished.isoformat(),
            elapsed_seconds=(finished - self._started).total_seconds(),
            trajectory=trajectory(final) if request.return_trajectory else None,
            ledger=list(final.get("ledger") or []) if request.return_trajectory else None,
            report_markdown=written.markdown if written else None,
            report_warnings=written.warnings if written else [],
        )
