"""A session's trajectory read back from its workflow history: one step per activity and one
per child session (Heavy mode's branches)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Any

from temporalio.api.enums.v1 import EventType, StartChildWorkflowExecutionFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

from graphs import iterative
from graphs.protocol import DIALECTS, tongyi
from graphs.state import to_message, to_messages
from graphs.strategies import strategy_of

EXCERPT = 600


def _clip(text: str, limit: int = EXCERPT) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more chars]"


def _node_details(node: str, args: list[Any], result: dict[str, Any] | None) -> dict[str, Any]:
    task = args[0] if args else {}
    result = result or {}
    if node == "think":
        messages = result.get("messages") or []
        if not messages:
            return {}
        message = to_message(messages[-1])
        details: dict[str, Any] = {
            "thought": _clip(tongyi.thought(message)),  # type: ignore[arg-type]
            "prompt_tokens": result.get("prompt_tokens"),
            "completion_tokens": result.get("completion_tokens"),
        }
        report = iterative.extract_report(str(message.content))
        if report is not None:  # an iterative round's evolving report
            details["report"] = _clip(report)
        answer = tongyi.extract_answer(str(message.content))
        if answer is not None:
            details["answer"] = _clip(answer)
        calls = getattr(message, "tool_calls", [])
        if calls:
            details["tool_call"] = {"name": calls[0]["name"], "arguments": calls[0]["args"]}
        for bad in getattr(message, "invalid_tool_calls", []):
            details["invalid_tool_call"] = {
                "raw": _clip(str(bad["args"]), 300),
                "error": bad["error"],
            }
        return details
    details = {k: task[k] for k in ("query", "url", "goal") if k in task}
    observations = result.get("observations") or []
    if observations:
        details["observation"] = _clip(observations[0].get("text", ""))
        if observations[0].get("blob"):  # a `read`: the page it extracted from
            details["page_blob"] = observations[0]["blob"]
        if observations[0].get("replayed"):  # a replay evaluation's: from its tape
            details["replayed"] = True
        if observations[0].get("cached"):  # served by the research cache, this old
            details["cached"] = list(observations[0]["cached"])
            details["cached_age_s"] = observations[0].get("cached_age_s")
    for page in result.get("pages") or []:
        details["page_blob"] = page.get("blob")
    return details


def node_args(payload: Any) -> list[Any]:
    """A node's input from its activity input: the plugin's (`args`) or the model call's
    (`state`)."""
    if not isinstance(payload, dict):
        return []
    return [payload["state"]] if "state" in payload else list(payload.get("args", []))


def node_result(output: Any) -> dict[str, Any] | None:
    """A node's state update from its activity result: the plugin's (`result`) or the model
    call's (`update`)."""
    if not isinstance(output, dict):
        return None
    return output.get("update", output.get("result"))


def _failure_message(failure: Failure) -> str:
    """The failure and its innermost cause (where the error came from), on one line."""
    message = failure.message
    cause = failure
    while cause.HasField("cause"):
        cause = cause.cause
    if cause is not failure and cause.message and cause.message not in message:
        message += f" (cause: {cause.message})"
    return " ".join(message.split())


CHILD_CLOSED: dict[int, tuple[str, str]] = {
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: (
        "canceled",
        "child_workflow_execution_canceled_event_attributes",
    ),
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: (
        "timed out",
        "child_workflow_execution_timed_out_event_attributes",
    ),
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: (
        "terminated",
        "child_workflow_execution_terminated_event_attributes",
    ),
}


async def _child_step(
    client: Client,
    steps: dict[tuple[int, int], dict[str, Any]],
    run: int,
    event: HistoryEvent,
    at: str,
) -> bool:
    """Fold a child workflow event into its step (keyed by its initiated event); False when
    the event is not about a child workflow."""
    kind = event.event_type
    if kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        attrs = event.start_child_workflow_execution_initiated_event_attributes
        steps[run, event.event_id] = {
            "node": "branch",
            "summary": f"branch {attrs.workflow_id}",
            "session_id": attrs.workflow_id,
            "scheduled_at": at,
            "status": "scheduled",
        }
    elif kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED:
        attrs = event.start_child_workflow_execution_failed_event_attributes
        cause = StartChildWorkflowExecutionFailedCause.Name(attrs.cause)
        cause = cause.removeprefix("START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_")
        steps[run, attrs.initiated_event_id].update(
            status="failed",
            finished_at=at,
            failure=f"could not start: {cause.lower().replace('_', ' ')}",
        )
    elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
        attrs = event.child_workflow_execution_started_event_attributes
        steps[run, attrs.initiated_event_id].update(status="running", started_at=at)
    elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
        attrs = event.child_workflow_execution_completed_event_attributes
        decoded = await _decode(client, attrs.result)
        report = decoded[0] if decoded and isinstance(decoded[0], dict) else {}
        step = steps[run, attrs.initiated_event_id]
        step.update(status="completed", finished_at=at)
        if "answer" in report:
            step["answer"] = _clip(str(report["answer"]))
        if "termination" in report:
            step["termination"] = report["termination"]
    elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
        attrs = event.child_workflow_execution_failed_event_attributes
        steps[run, attrs.initiated_event_id].update(
            status="failed", finished_at=at, failure=_failure_message(attrs.failure)
        )
    elif kind in CHILD_CLOSED:
        status, field = CHILD_CLOSED[kind]
        attrs = getattr(event, field)
        steps[run, attrs.initiated_event_id].update(status=status, finished_at=at)
    else:
        return False
    return True


async def _decode(client: Client, payloads: Any) -> list[Any]:
    if not payloads or not payloads.payloads:
        return []
    return await client.data_converter.decode(payloads.payloads)


async def session_histories(client: Client, session_id: str) -> list[WorkflowHistory]:
    """The histories of the session's latest run and the runs before it, oldest first: the
    runs it continued as new from, and the stopped runs `resume` continued (raises RPCError
    NOT_FOUND for an unknown session)."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(session_id, run_id=run_id).fetch_history()
        histories.append(history)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or await _resumed_from(client, started)
        if not run_id or len(histories) > MAX_RUNS:
            return histories[::-1]


MAX_RUNS = 1000  # a guard against a cycle of run ids


async def _resumed_from(client: Client, started: Any) -> str | None:
    decoded = await _decode(client, started.input)
    request = decoded[0] if decoded and isinstance(decoded[0], dict) else {}
    return request.get("resumed_from") or None


async def read_timeline(
    client: Client, histories: Sequence[WorkflowHistory], until_step: int | None = None
) -> dict[str, Any]:
    """Steps (activities with attempts, failures, timings, decoded inputs/outputs; child
    sessions with their answers or failures) and outcome, across the runs of a continued-as-new
    session. `until_step`: only the steps of its first model turns and their tool calls (what
    a fork of it at that step took over)."""
    steps: dict[tuple[int, int], dict[str, Any]] = {}
    outcome: dict[str, Any] = {"status": "running"}
    events = [(run, event) for run, history in enumerate(histories) for event in history.events]
    for run, event in events:
        kind = event.event_type
        at = event.event_time.ToDatetime().isoformat() + "Z"
        if await _child_step(client, steps, run, event, at):
            continue
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            decoded = await _decode(client, attrs.input)
            payload = decoded[0] if decoded else {}
            summary = ""
            if event.user_metadata.HasField("summary"):
                summary = (await client.data_converter.decode([event.user_metadata.summary]))[0]
            steps[run, event.event_id] = {
                "node": attrs.activity_type.name.split(".", 1)[-1],
                "summary": summary,
                "scheduled_at": at,
                "status": "scheduled",
                "attempts": 1,
                "_args": node_args(payload),
            }
            if until_step is not None and _turn_of(steps[run, event.event_id]) > until_step:
                del steps[run, event.event_id]
                break
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            step = steps[run, attrs.scheduled_event_id]
            step.update(status="running", started_at=at, attempts=attrs.attempt)
            if attrs.HasField("last_failure"):
                step["last_failure"] = _failure_message(attrs.last_failure)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            step = steps[run, attrs.scheduled_event_id]
            decoded = await _decode(client, attrs.result)
            output = decoded[0] if decoded else {}
            result = node_result(output)
            step.update(status="completed", finished_at=at)
            step.update(_node_details(step["node"], step["_args"], result))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            attrs = event.activity_task_failed_event_attributes
            steps[run, attrs.scheduled_event_id].update(
                status="failed", finished_at=at, failure=_failure_message(attrs.failure)
            )
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
            # abandoned by an operator's cancel: the session no longer waits for it
            attrs = event.activity_task_cancel_requested_event_attributes
            steps[run, attrs.scheduled_event_id].update(status="cancelled", finished_at=at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
            attrs = event.activity_task_canceled_event_attributes
            steps[run, attrs.scheduled_event_id].update(status="cancelled", finished_at=at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            attrs = event.activity_task_timed_out_event_attributes
            steps[run, attrs.scheduled_event_id].update(
                status="timed out", finished_at=at, failure=_failure_message(attrs.failure)
            )
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            attrs = event.workflow_execution_completed_event_attributes
            decoded = await _decode(client, attrs.result)
            outcome = {"status": "completed", "report": decoded[0] if decoded else None}
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            outcome = {"status": "failed", "error": _failure_message(failure)}
        elif kind in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        ):
            outcome = {
                "status": EventType.Name(kind)
                .removeprefix("EVENT_TYPE_WORKFLOW_EXECUTION_")
                .lower()
            }
    ordered = [steps[key] for key in sorted(steps)]
    for step in ordered:
        step.pop("_args", None)
        if "started_at" in step and "finished_at" in step:
            began = datetime.fromisoformat(step["started_at"].rstrip("Z"))
            ended = datetime.fromisoformat(step["finished_at"].rstrip("Z"))
            step["duration_s"] = round((ended - began).total_seconds(), 3)
        if "scheduled_at" in step and "finished_at" in step:  # every attempt and the waits
            began = datetime.fromisoformat(step["scheduled_at"].rstrip("Z"))
            ended = datetime.fromisoformat(step["finished_at"].rstrip("Z"))
            step["total_s"] = round((ended - began).total_seconds(), 3)
    return {"steps": ordered, **outcome}


def _turn_of(step: dict[str, Any]) -> int:
    """The model turn a scheduled model call is (1 for the first); 0 for other activities."""
    if step["node"] != "think":
        return 0
    state = step["_args"][0] if step["_args"] and isinstance(step["_args"][0], dict) else {}
    return int(state.get("llm_calls") or 0) + 1


async def state_at_step(
    client: Client, histories: Sequence[WorkflowHistory], step: int
) -> tuple[dict[str, Any] | None, int]:
    """What a fork at `step` starts from: the graph state the model call after that step
    started from (the conversation through the step's tool responses, its counters), with an
    iterative session's every round up to it; None, with how many model turns the session has
    begun, when the turn after `step` has not begun. The calls after it are not read (each
    input holds a whole conversation)."""
    found: dict[str, Any] | None = None
    begun = 0
    async for state in _think_inputs(client, histories):
        turn = int(state.get("llm_calls") or 0)
        begun = max(begun, turn + 1)
        if turn == step:
            found = state
            break
    if found is None or strategy_of(found).name == "react":
        return found, begun
    return {**found, "messages": await _every_round(client, histories, until=step)}, begun


async def _think_inputs(
    client: Client, histories: Sequence[WorkflowHistory]
) -> AsyncIterator[dict[str, Any]]:
    """The graph state each scheduled model call started from, in order, across the runs."""
    for history in histories:
        for event in history.events:
            if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                continue
            attrs = event.activity_task_scheduled_event_attributes
            if not attrs.activity_type.name.endswith(".think"):
                continue
            decoded = await _decode(client, attrs.input)
            args = node_args(decoded[0] if decoded else None)
            yield args[0] if args and isinstance(args[0], dict) else {}


async def _last_think(client: Client, histories: Sequence[WorkflowHistory]) -> tuple[Any, Any]:
    """Decoded (input state, result) of the last model call; result None if it did not finish."""
    scheduled: dict[int, Any] = {}
    last_id, result = None, None
    history = next((h for h in reversed(histories) if _has_think(h)), histories[-1])
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name.endswith(".think"):
                scheduled[event.event_id] = attrs.input
                last_id, result = event.event_id, None
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            if attrs.scheduled_event_id == last_id:
                result = attrs.result
    if last_id is None:
        return None, None
    decoded = await _decode(client, scheduled[last_id])
    args = node_args(decoded[0] if decoded else None)
    state = args[0] if args and isinstance(args[0], dict) else None
    output = (await _decode(client, result))[0] if result is not None else None
    return state, node_result(output)


def _has_think(history: WorkflowHistory) -> bool:
    return any(
        e.activity_task_scheduled_event_attributes.activity_type.name.endswith(".think")
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )


async def last_turn_state(
    client: Client, histories: Sequence[WorkflowHistory]
) -> dict[str, Any] | None:
    """The graph state the last model call started from (its activity input): where a stopped
    session resumes, with the whole conversation (an iterative round's input holds only the
    question and the last round: the earlier rounds come from the earlier calls' inputs).
    None when no model call was scheduled."""
    return (await _last_turn(client, histories))[0]


async def _last_turn(
    client: Client, histories: Sequence[WorkflowHistory]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """`last_turn_state` and the last model call's result (None if it did not finish)."""
    state, result = await _last_think(client, histories)
    if state is None or strategy_of(state).name == "react":
        return state, result
    return {**state, "messages": await _every_round(client, histories)}, result


async def _every_round(
    client: Client, histories: Sequence[WorkflowHistory], until: int | None = None
) -> list[Any]:
    """The question and every round, from the model calls' inputs (each holds the round
    before it), oldest first and each message once; `until`: of the calls up to the one after
    that step."""
    messages: list[Any] = []
    seen: set[str] = set()
    async for state in _think_inputs(client, histories):
        if until is not None and int(state.get("llm_calls") or 0) > until:
            continue
        for message in state.get("messages") or []:
            key = json.dumps(message, sort_keys=True, default=str)
            if isinstance(message, dict) and message.get("id"):
                key = f"{message.get('type')}:{message['id']}"
            if key not in seen:
                seen.add(key)
                messages.append(message)
    return messages


async def earlier_context(
    client: Client, histories: Sequence[WorkflowHistory]
) -> dict[str, Any] | None:
    """What a follow-up starts from (`ask --follow-up`): the earlier session's conversation as
    its last model call saw it plus that call's reply, its ledger, and the pages it read (URL
    -> blob digest, so that they are not fetched again). None before any model call."""
    state, result = await _last_turn(client, histories)
    if state is None:
        return None
    messages = list(state.get("messages") or [])
    if result and result.get("messages"):
        messages.append(result["messages"][-1])
    return {
        "messages": messages,
        "ledger": list(state.get("ledger") or []),
        "pages": await pages_read(client, histories),
    }


async def completed_nodes(
    client: Client, histories: Sequence[WorkflowHistory], nodes: Collection[str]
) -> AsyncIterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Each completed activity of these graph nodes, as it completed: its node, its task (the
    decoded input) and its state update."""
    for history in histories:
        asked: dict[int, tuple[str, Any]] = {}
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                node = attrs.activity_type.name.split(".", 1)[-1]
                if node in nodes:
                    asked[event.event_id] = (node, attrs.input)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                attrs = event.activity_task_completed_event_attributes
                if attrs.scheduled_event_id not in asked:
                    continue
                node, payloads = asked.pop(attrs.scheduled_event_id)
                decoded = await _decode(client, payloads)
                args = node_args(decoded[0] if decoded else None)
                task = args[0] if args and isinstance(args[0], dict) else {}
                output = await _decode(client, attrs.result)
                yield node, task, node_result(output[0] if output else None) or {}


async def pages_read(client: Client, histories: Sequence[WorkflowHistory]) -> dict[str, str]:
    """URL -> blob digest of every page the session read (`read`, and `fetch` before it)."""
    pages: dict[str, str] = {}
    async for _, _, result in completed_nodes(client, histories, ("read", "fetch")):
        for page in [*(result.get("observations") or []), *(result.get("pages") or [])]:
            url = page.get("source") or page.get("url")
            if isinstance(url, str) and isinstance(page.get("blob"), str):
                pages.setdefault(url, page["blob"])
    return pages


async def tongyi_record(
    client: Client, histories: Sequence[WorkflowHistory]
) -> dict[str, Any] | None:
    """The session in the reference's trajectory format (question, answer, messages,
    prediction, termination), so its evaluation scripts run on our sessions unchanged. The
    ground-truth `answer` is unknown here and left empty."""
    state, result = await _last_think(client, histories)
    timeline = await read_timeline(client, histories)
    report = timeline.get("report")
    if state is None or not isinstance(report, dict):
        return None
    messages = to_messages(state.get("messages") or [])
    # what the model saw on its last turn: the conversation, or an iterative round's workspace
    rendered = strategy_of(state).render(messages, state, DIALECTS["tongyi"])  # type: ignore[arg-type]
    if report.get("tail") is not None:  # the last turn as it ended, and what followed it
        rendered.extend(report["tail"])
    elif result and result.get("messages"):  # sessions recorded before the tail was
        final = to_message(result["messages"][-1])
        rendered.append({"role": "assistant", "content": str(final.content)})
    record = {
        "question": report["question"],
        "answer": "",
        "messages": rendered,
        "prediction": report["answer"],
        "termination": report["termination"],
    }
    cached = [
        {k: step[k] for k in ("node", "query", "url", "cached", "cached_age_s") if k in step}
        for step in timeline["steps"]
        if step.get("cached")
    ]
    if cached:  # which observations the research cache served (the messages are as live)
        record["cached"] = cached
    return record


STEP_EVENTS = (
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
)


async def page_reads(client: Client, histories: Sequence[WorkflowHistory]) -> list[dict[str, Any]]:
    """Every page read that gave the model an observation, in the order the model asked for
    them (parallel reads finish in any order): its step (numbered
    as `show` numbers them), the URL and goal, the observation text in full, the stored page's
    digest and how it was fetched (`fetch`, None for sessions recorded before reads kept it).
    A `read` does it all in one step; older sessions' `extract` names the page `fetch` stored."""
    reads: list[dict[str, Any]] = []
    number = 0
    for history in histories:
        scheduled: dict[int, dict[str, Any]] = {}
        for event in history.events:
            at = event.event_time.ToDatetime().isoformat() + "Z"
            if event.event_type in STEP_EVENTS:
                number += 1
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                node = attrs.activity_type.name.split(".", 1)[-1]
                if node in ("read", "extract"):
                    scheduled[event.event_id] = {
                        "step": number,
                        "node": node,
                        "activity_id": attrs.activity_id,
                        "scheduled_at": at,
                        "input": attrs.input,
                    }
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                attrs = event.activity_task_completed_event_attributes
                step = scheduled.get(attrs.scheduled_event_id)
                if step is None:
                    continue
                decoded = await _decode(client, step.pop("input"))
                args = node_args(decoded[0] if decoded else None)
                task = args[0] if args and isinstance(args[0], dict) else {}
                output = await _decode(client, attrs.result)
                result = node_result(output[0] if output else None) or {}
                for observation in result.get("observations") or []:
                    url = observation.get("source")
                    blob = observation.get("blob") or task.get("blob")
                    if not isinstance(url, str):
                        continue  # a page that could not be read: nothing was read
                    reads.append(
                        {
                            **step,
                            "run_id": history.run_id,
                            "finished_at": at,
                            "url": url,
                            "goal": task.get("goal"),
                            "observation": str(observation.get("text", "")),
                            "blob": blob if isinstance(blob, str) else None,
                            "fetch": observation.get("fetch"),
                        }
                    )
    return sorted(reads, key=lambda read: read["step"])  # as scheduled, not as they finished


async def first_input(client: Client, histories: Sequence[WorkflowHistory]) -> dict[str, Any]:
    """The session's input as its first run recorded it (its settings); {} if undecodable."""
    started = histories[0].events[0].workflow_execution_started_event_attributes
    decoded = await _decode(client, started.input)
    return decoded[0] if decoded and isinstance(decoded[0], dict) else {}


async def final_report(
    client: Client, histories: Sequence[WorkflowHistory]
) -> dict[str, Any] | None:
    """The report the session completed with; None while it runs or when it did not complete."""
    last = histories[-1].events[-1] if histories and histories[-1].events else None
    if last is None or last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        return None
    decoded = await _decode(client, last.workflow_execution_completed_event_attributes.result)
    return decoded[0] if decoded and isinstance(decoded[0], dict) else None
