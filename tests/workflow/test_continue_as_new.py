"""A 150-step session with a small history budget continues as new several times; the answer,
the counts and the trajectory (show, export) cover every run."""

from __future__ import annotations

import json

from temporalio.client import Client

from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, answer, ask_json, call

STEPS = 150


async def test_long_session_continues_as_new(stack: Stack, temporal_address: str) -> None:
    turns = [call("search", {"query": [f"query {i}"]}) for i in range(STEPS)]
    stack.script(QUESTION, [*turns, answer()])
    report = ask_json(
        stack,
        "--id",
        "s-long",
        "--max-llm-calls",
        str(STEPS + 10),
        DEEPRESEARCH_HISTORY_EVENTS="400",
        DEEPRESEARCH_MAX_LLM_CALLS=str(STEPS + 10),  # a caller's limit only lowers this one
        timeout="300",
    )
    assert report["answer"] == ANSWER and report["termination"] == "answer"
    assert report["llm_calls"] == STEPS + 1 and report["tool_calls"] == STEPS

    client = await Client.connect(temporal_address)
    runs = [run async for run in client.list_workflows("WorkflowId = 's-long'")]
    assert len(runs) >= 4, len(runs)  # ~14 events per step: a new run every ~28 steps
    # Every model turn and every search ran exactly once across the runs.
    assert [r.meta["turn"] for r in stack.model.research_requests()] == list(range(STEPS + 1))
    assert sorted(stack.serper.queries()) == sorted(f"query {i}" for i in range(STEPS))
    # The conversation carried over: the last turn saw all 150 tool responses.
    last = stack.model.research_requests()[-1].body["messages"]
    assert sum(m["content"].startswith("<tool_response>") for m in last) == STEPS

    shown = json.loads(stack.cli("show", "s-long", "--json").stdout)
    nodes = [step["node"] for step in shown["steps"]]
    assert nodes.count("think") == STEPS + 1 and nodes.count("search") == STEPS
    assert shown["status"] == "completed"
    exported = stack.cli("export", "s-long")
    assert exported.returncode == 0, exported.stderr
    record = json.loads(exported.stdout)
    assert len(record["messages"]) == 2 + 2 * STEPS + 1
