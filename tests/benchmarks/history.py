"""History: bytes and events per step of a long session, the largest event, and when the
session continues as new, against the size of the conversation it carries.

    .venv/bin/python -m tests.benchmarks.history [--steps 60] [--history-events 10000]
        [--small-budget 300]

A scripted session of S steps (a step = one model turn: S-1 searches with a 400-character
thought, then the answer) on an in-process research worker. From its history: cumulative bytes
and events at steps 10, 30 and S, per step and added per step; the largest single event; and the
step at which continue-as-new triggers for the `--history-events` budget, projected from the
events added per step. The same script then runs with a `--small-budget` event budget, to show
the step at which it actually continues as new, next to the projection for that budget.
Baseline in the same run: the conversation itself, from the fake model's request log (the
message contents sent at the last step, and summed over all steps: what inline payloads would
have put in the history at the least), against the history's bytes; i.e. what the claim-check
codec saves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from graphs.state import ResearchLimits
from tests.benchmarks.settings import fake_settings
from tests.fakes import FakeJina, FakeModel, FakeSerper
from tests.fakes.model import message_text
from tests.processes import DevServer
from workers.client.timeline import session_histories
from workers.config import Settings
from workers.hosting.research_worker import connect, research_worker
from workers.workflows.models import HistoryBudget, ResearchInput
from workers.workflows.research import ResearchWorkflow

QUESTION = "history question"
SMALL = "history question, small budget"
MARKS = (10, 30)


def script(steps: int) -> list[str]:
    turns = []
    for i in range(steps - 1):
        body = json.dumps({"name": "search", "arguments": {"query": [f"query number {i}"]}})
        turns.append(f"<think>{'x' * 400}</think>\n<tool_call>\n{body}\n</tool_call>")
    return [*turns, "<think>done</think>\n<answer>42</answer>"]


@dataclass
class Marks:
    """Cumulative (bytes, events) of a session's histories at the completion of each step."""

    at_step: list[tuple[int, int]]  # index k-1: at the end of step k
    total: tuple[int, int]
    largest: tuple[int, str, int]  # bytes, event type, the step it belongs to
    runs: list[int]  # steps completed in each run (continue-as-new splits runs)
    # index k-1: the history length the first run's workflow saw when it decided, after step k,
    # whether to continue as new (its workflow task's started event, before scheduling step k+1)
    seen: list[int]


def marks(histories: list[list[HistoryEvent]]) -> Marks:
    size = count = 0
    at_step: list[tuple[int, int]] = []
    largest = (0, "", 0)
    runs: list[int] = []
    seen: list[int] = []
    for run, events in enumerate(histories):
        thinks: set[int] = set()
        done = 0
        for event in events:
            size += event.ByteSize()
            count += 1
            if event.ByteSize() > largest[0]:
                name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
                largest = (event.ByteSize(), name, len(at_step) + 1)
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                if attrs.activity_type.name == "llm.think":
                    thinks.add(event.event_id)
                    if run == 0 and thinks != {event.event_id}:
                        # ..., WORKFLOW_TASK_STARTED, WORKFLOW_TASK_COMPLETED, this event
                        seen.append(event.event_id - 2)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                if event.activity_task_completed_event_attributes.scheduled_event_id in thinks:
                    at_step.append((size, count))
                    done += 1
        runs.append(done)
    return Marks(at_step, (size, count), largest, runs, seen)


async def run_session(
    client: Client, settings: Settings, question: str, steps: int, budget: int
) -> Marks:
    session_id = f"history-{uuid.uuid4().hex[:8]}"
    report = await client.execute_workflow(
        ResearchWorkflow.run,
        ResearchInput(
            question=question,
            limits=ResearchLimits(max_llm_calls=steps + 5),
            history=HistoryBudget(events=budget),
        ),
        id=session_id,
        task_queue=settings.task_queue,
    )
    assert report.termination == "answer" and report.llm_calls == steps, report
    histories = await session_histories(client, session_id)
    return marks([list(history.events) for history in histories])


def conversation_bytes(model: FakeModel, question: str) -> tuple[int, int]:
    """(message contents sent at the last step, summed over every step), UTF-8 bytes."""
    sizes = [
        sum(len(message_text(m).encode()) for m in record.body["messages"])
        for record in model.research_requests()
        if record.status == 200 and record.meta.get("question") == question
    ]
    return sizes[-1], sum(sizes)


def kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--history-events", type=int, default=10_000)
    parser.add_argument("--small-budget", type=int, default=300)
    args = parser.parse_args()
    steps = args.steps
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeJina() as jina,
        FakeSerper(page_base=jina.url) as serper,
        FakeModel() as model,
    ):
        model.scripts[QUESTION] = script(steps)
        model.scripts[SMALL] = script(steps)
        server = DevServer(Path(tmp) / "temporal.db").start()
        try:
            settings = fake_settings(model, serper, jina, tmp)
            client = await connect(settings, server.address)
            async with research_worker(settings, client):
                full = await run_session(client, settings, QUESTION, steps, args.history_events)
                small = await run_session(client, settings, SMALL, steps, args.small_budget)
        finally:
            server.stop()
        last, summed = conversation_bytes(model, QUESTION)
        blobs = sum(p.stat().st_size for p in settings.blob_dir.rglob("*") if p.is_file())

    lines = [f"steps={steps} (a step = one model turn; {steps - 1} searches, then the answer)"]
    previous = (0, 0, 0)
    for step in (*(m for m in MARKS if m < steps), steps):
        size, count = full.at_step[step - 1]
        added = (size - previous[1]) / (step - previous[0])
        lines.append(
            f"at step {step:3d}: history {kib(size):>11} ({size / step:6.0f} B/step, "
            f"{added:6.0f} B/step added since step {previous[0]}), {count:5d} events "
            f"({count / step:5.1f}/step, {(count - previous[2]) / (step - previous[0]):5.1f}/step "
            "added)"
        )
        previous = (step, size, count)
    size, count = full.total
    event_bytes, event_type, event_step = full.largest
    lines.append(
        f"whole history: {kib(size)}, {count} events; largest event {event_bytes} B "
        f"({event_type}, step {event_step})"
    )
    # The workflow checks its history length after each step; it grows linearly per step, so
    # a budget past the measured steps is extrapolated from the later ones.
    seen = full.seen
    first = min(MARKS[0], len(seen))
    rate = (seen[-1] - seen[first - 1]) / (len(seen) - first)

    def projected(budget: int) -> int:
        reached = next((k for k, length in enumerate(seen, 1) if length >= budget), None)
        return reached or len(seen) + math.ceil((budget - seen[-1]) / rate)

    continued = " (this session continued as new)" if len(full.runs) > 1 else ""
    at = projected(args.history_events)
    limit = ResearchLimits().max_llm_calls
    past = f", past the default limit of {limit} model calls" if at > limit else ""
    lines.append(
        f"continue-as-new at {args.history_events} events: projected after step {at} "
        f"({rate:.1f} events/step{past}){continued}"
    )
    lines.append(
        f"continue-as-new at {args.small_budget} events: projected after step "
        f"{projected(args.small_budget)}; measured after step {small.runs[0]} "
        f"(steps per run: {small.runs}, the session still answered at step {steps})"
    )
    lines.append(
        f"conversation (baseline): {kib(last)} of messages sent at step {steps}, "
        f"{kib(summed)} summed over all {steps} steps (what the model-call inputs alone would "
        f"put in the history without the claim-check codec: {summed / size:.1f}x the history); "
        f"history {kib(size)} = {size / last:.2f}x the last conversation; "
        f"blob store {kib(blobs)}"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
