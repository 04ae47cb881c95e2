"""Replay: stored and fresh histories run through today's workflow code without
non-determinism. Set RECORD_HISTORIES=1 to re-record the stored one after an intended change
guarded by `workflow.patched`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import Stack
from tests.fakes.model import iterative_round
from tests.workflow.test_heavy import route
from tests.workflow.test_session import QUESTION, answer, ask_json, call, four_call_script
from workers.config import Settings
from workers.hosting.research_worker import data_converter, plugin
from workers.hosting.sandbox import CompiledSandboxedWorkflowRunner
from workers.workflows.heavy import HeavyWorkflow
from workers.workflows.research import READ_IN_ONE, ResearchWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


def activity_types(history: WorkflowHistory) -> set[str]:
    return {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }


def patch_markers(history: WorkflowHistory) -> set[str]:
    """The ids of the `workflow.patched` markers the history recorded."""
    ids = set()
    for event in history.events:
        if not event.HasField("marker_recorded_event_attributes"):
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == "core_patch" and "patch-data" in marker.details:
            data = marker.details["patch-data"].payloads[0].data
            ids.add(json.loads(data)["id"])
    return ids


def replayer(blob_dir: Path, **env: str) -> Replayer:
    settings = Settings(OPENAI_BASE_URL="http://unused/v1", DEEPRESEARCH_MODEL="unused", **env)
    return Replayer(
        workflows=[ResearchWorkflow, HeavyWorkflow],
        plugins=[plugin(settings)],
        data_converter=data_converter(blob_dir),
        workflow_runner=CompiledSandboxedWorkflowRunner(),  # the worker's runner
    )


async def test_fresh_history_replays(stack: Stack, temporal_address: str) -> None:
    stack.script(QUESTION, four_call_script(stack))
    ask_json(stack, "--id", "s-replay")
    client = await Client.connect(temporal_address)
    history = await client.get_workflow_handle("s-replay").fetch_history()
    assert any(e.activity_task_completed_event_attributes.result.payloads for e in history.events)
    assert activity_types(history) == {"llm.think", "research.search", "research.read"}
    assert READ_IN_ONE in patch_markers(history), patch_markers(history)
    blob_dir = stack.data_dir / "blobs"
    result = await replayer(blob_dir).replay_workflow(history)
    assert result.replay_failure is None
    # rate limits switched on while it ran: its searches and reads now go to the providers'
    # own queues, which replaying what went to the main queue must tolerate
    paced = replayer(blob_dir, DEEPRESEARCH_RATE_LIMITS="serper=2,jina=2")
    assert (await paced.replay_workflow(history)).replay_failure is None
    if os.environ.get("RECORD_HISTORIES"):  # tongyi-four-calls.json keeps fetch, then extract
        (HISTORIES / "tongyi-four-calls-read.json").write_text(history.to_json())
        shutil.copytree(blob_dir, HISTORIES / "blobs", dirs_exist_ok=True)


async def test_continued_as_new_history_replays(stack: Stack, temporal_address: str) -> None:
    turns = [call("search", {"query": [f"q{i}"]}) for i in range(30)]
    stack.script(QUESTION, [*turns, answer()])
    ask_json(stack, "--id", "s-replay-can", DEEPRESEARCH_HISTORY_EVENTS="200")
    client = await Client.connect(temporal_address)
    runs = [run async for run in client.list_workflows("WorkflowId = 's-replay-can'")]
    first = min(runs, key=lambda run: run.start_time)
    history = await client.get_workflow_handle("s-replay-can", run_id=first.run_id).fetch_history()
    assert history.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    result = await replayer(stack.data_dir / "blobs").replay_workflow(history)
    assert result.replay_failure is None
    if os.environ.get("RECORD_HISTORIES"):
        (HISTORIES / "tongyi-continued-as-new.json").write_text(history.to_json())
        shutil.copytree(stack.data_dir / "blobs", HISTORIES / "blobs", dirs_exist_ok=True)


async def test_heavy_history_with_an_iterative_branch_replays(
    stack: Stack, temporal_address: str
) -> None:
    stack.model.script_key = route
    stack.model.turn_of = iterative_round
    stack.model.scripts.update(
        {
            "b0": [
                call("search", {"query": ["turing 2024"]}).replace(
                    "</think>\n", "</think>\n<report>Searching.</report>\n"
                ),
                "<think>ok</think>\n<report>Found it.</report>\n<answer>Barto and Sutton</answer>",
            ],
            "b2": [answer()],
            "report": ["<report>## Solution Planning\n...</report>"],
            "integrate": ["<answer>Barto and Sutton</answer>"],
        }
    )
    ask_json(
        stack, "--id", "s-replay-heavy", "--mode", "heavy", "--branches", "2",
        "--strategy", "iterative,react",
    )  # fmt: skip
    client = await Client.connect(temporal_address)
    blob_dir = stack.data_dir / "blobs"
    for session_id in ("s-replay-heavy", "s-replay-heavy-b0"):  # files are named by workflow id
        history = await client.get_workflow_handle(session_id).fetch_history()
        result = await replayer(blob_dir).replay_workflow(history)
        assert result.replay_failure is None, session_id
        if os.environ.get("RECORD_HISTORIES"):
            (HISTORIES / f"{session_id}.json").write_text(history.to_json())
            shutil.copytree(blob_dir, HISTORIES / "blobs", dirs_exist_ok=True)


async def test_stored_histories_replay(tmp_path: Path) -> None:
    stored = sorted(HISTORIES.glob("*.json"))
    assert stored, "no stored histories: run with RECORD_HISTORIES=1"
    blobs = tmp_path / "blobs"  # replay encodes commands through the codec: keep the repo clean
    shutil.copytree(HISTORIES / "blobs", blobs)
    types: set[str] = set()
    for path in stored:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        types |= activity_types(history)
        result = await replayer(blobs).replay_workflow(history)
        assert result.replay_failure is None, path.name
    # sessions from before `read` (fetch, then extract) and after it both replay
    assert {"research.fetch", "research.extract", "research.read"} <= types
