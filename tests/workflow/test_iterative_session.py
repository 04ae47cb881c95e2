"""The iterative-workspace strategy (IterResearch) end to end: a long session whose prompt stays
bounded, and Heavy mode mixing it with ReAct branches, with a grounded report."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.conftest import Stack
from tests.fakes.model import iterative_round, message_text
from tests.workflow.test_heavy import route
from tests.workflow.test_session import QUESTION, call

ROUNDS = 60


def research_round(k: int) -> str:
    """Round k searches for fact k and rewrites the report: it keeps the last two findings."""
    findings = " ".join(f"Finding {j}: fact {j} is known." for j in range(max(1, k - 2), k))
    report = f"<report>{findings or 'Nothing yet.'} Next: look up fact {k}.</report>"
    tool = call("search", {"query": [f"fact {k} query"]}, thought=f"round {k} thinking")
    return tool.replace("</think>\n", f"</think>\n{report}\n", 1)


def observation(body: dict[str, Any]) -> str:
    text = message_text(body["messages"][-1])
    return text.split("<tool_response>\n", 1)[1].split("\n</tool_response>", 1)[0]


def listed(stack: Stack, session_id: str) -> dict[str, dict[str, Any]]:
    """`list --json` rows by id, once the session's termination is visible (eventually
    consistent)."""
    deadline = time.monotonic() + 10
    while True:
        result = stack.cli("list", "--json", "--query", "Turing")
        assert result.returncode == 0, result.stderr
        rows = {row["session_id"]: row for row in json.loads(result.stdout)}
        if rows.get(session_id, {}).get("termination") or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def prompt_size(body: dict[str, Any]) -> int:
    return sum(len(message_text(m)) for m in body["messages"])


def test_a_60_round_iterative_session_keeps_its_prompt_bounded(stack: Stack) -> None:
    stack.model.turn_of = iterative_round
    turns = [research_round(k) for k in range(1, ROUNDS + 1)]
    turns.append("<think>done</think>\n<report>All facts known.</report>\n<answer>42</answer>")
    stack.script(QUESTION, turns)
    result = stack.cli(
        "ask", QUESTION, "--json", "--id", "s-iter", "--strategy", "iterative",
        "--max-llm-calls", str(ROUNDS + 5), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["answer"] == "42" and report["termination"] == "answer"
    assert report["llm_calls"] == ROUNDS + 1 and report["tool_calls"] == ROUNDS

    requests = [r.body for r in stack.model.research_requests()]
    assert len(requests) == ROUNDS + 1
    assert "seed" not in requests[0]  # a single session leaves the seed to the server
    sizes = [prompt_size(body) for body in requests]
    # Every round is the system prompt and one workspace turn: no conversation piles up.
    assert all(len(body["messages"]) == 2 for body in requests)
    assert max(sizes[5:]) - min(sizes[5:]) < 600, sizes
    assert max(sizes) < sizes[1] + 600  # round 61 costs what round 2 did
    # A ReAct prompt replays every turn and result: by round 61 it would be many times larger.
    results = [observation(body) for body in requests[1:]]
    assert all(f"fact {k} query" in text for k, text in enumerate(results, start=1))
    react_size = sizes[0] + sum(len(t) for t in turns[:ROUNDS]) + sum(map(len, results))
    assert react_size > 8 * max(sizes)

    last = message_text(requests[-1]["messages"][1])
    assert "fact 60 query" in last and "fact 59 query" not in last  # only the last action
    assert "Finding 59: fact 59 is known." in last  # the report written in round 60
    assert "Finding 57" not in last and "round 60 thinking" not in last
    assert "Round 61: think" in last
    assert stack.serper.queries() == [f"fact {k} query" for k in range(1, ROUNDS + 1)]

    shown = json.loads(stack.cli("show", "s-iter", "--json").stdout)
    thinks = [s for s in shown["steps"] if s["node"] == "think"]
    assert len(thinks) == ROUNDS + 1 and shown["status"] == "completed"
    report_60 = "Finding 58: fact 58 is known. Finding 59: fact 59 is known. Next: look up fact 60."
    assert thinks[59]["report"] == report_60
    assert thinks[59]["thought"] == "round 60 thinking"
    # export: the last workspace byte for byte, plus the final reply (the reference's format)
    exported = stack.cli("export", "s-iter", "--out", str(stack.data_dir / "iter1.jsonl"))
    assert exported.returncode == 0, exported.stderr
    record = json.loads((stack.data_dir / "iter1.jsonl").read_text())
    assert record["messages"][:-1] == requests[-1]["messages"]
    assert record["messages"][-1] == {"role": "assistant", "content": turns[-1]}


def test_heavy_mode_mixes_strategies_and_writes_a_grounded_report(stack: Stack) -> None:
    page = f"{stack.jina.url}/page/acm-1"
    stack.model.script_key = route
    stack.model.turn_of = iterative_round
    stack.model.scripts.update(
        {
            "b0": [  # iterative
                call("visit", {"url": [page], "goal": "who won"}).replace(
                    "</think>\n", "</think>\n<report>Need the ACM page.</report>\n"
                ),
                "<think>ok</think>\n<report>ACM says Barto and Sutton.</report>\n"
                "<answer>Barto and Sutton</answer>",
            ],
            "b2": ["<think>guess</think>\n<answer>Barto and Sutton</answer>"],  # react, t=1.0
            "report": ["<report>## Solution Planning\nread the ACM page</report>"],
            "integrate": ["<answer>Barto and Sutton</answer>"],
            "Write a research report": ["# Turing Award 2024\n\nBarto and Sutton won [1] [4]."],
        }
    )
    result = stack.cli(
        "ask", QUESTION, "--json", "--id", "s-mixed", "--mode", "heavy", "--branches", "2",
        "--strategy", "iterative,react", "--report",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["answer"] == "Barto and Sutton"
    markdown = report["report_markdown"]
    assert "won [1]." in markdown and "[4]" not in markdown
    assert markdown.rstrip().endswith(f"[1] {page}")
    assert report["report_warnings"] == ["removed citation [4]: no source 4 was read"]
    assert (stack.data_dir / "reports" / "s-mixed.md").read_text() == markdown
    rows = listed(stack, "s-mixed")
    assert rows["s-mixed"]["termination"] == "answer" and rows["s-mixed"]["question"] == QUESTION
    assert {"s-mixed-b0", "s-mixed-b1"} <= set(rows)  # the branches are sessions too

    requests = stack.model.research_requests()
    b0 = [r.body for r in requests if route(r.body) == "b0"]
    b1 = [r.body for r in requests if route(r.body) == "b2"]
    assert [len(body["messages"]) for body in b0] == [2, 2]  # workspaces
    assert {body["seed"] for body in b0} == {0} and {body["seed"] for body in b1} == {1}
    assert "ACM" in message_text(b0[1]["messages"][1]) and "Need the ACM page." in message_text(
        b0[1]["messages"][1]
    )
    assert [len(body["messages"]) for body in b1] == [2]  # system + question: a ReAct turn
    assert "Round" not in message_text(b1[0]["messages"][1])
    # The iterative branch's report read its last rounds, final report included.
    condensed = [message_text(r.body["messages"][1]) for r in requests if route(r.body) == "report"]
    assert len(condensed) == 2  # both branches answered
    assert any("ACM says Barto and Sutton." in text for text in condensed)


async def test_resuming_an_iterative_session_keeps_every_round(
    stack: Stack, temporal_address: str
) -> None:
    """A round's model call sees only the last round, so the stopped run's last input is not
    the whole session: resume rebuilds it from every round's input, and `show` lists both runs."""
    from temporalio.client import Client

    from tests.workflow.test_session import answer, wait_for_turns
    from workers.hosting.research_worker import data_converter

    stack.model.turn_of = iterative_round
    stack.script(QUESTION, [research_round(k) for k in (1, 2, 3)] + [answer()])
    stack.serper.latency = 1
    detached = stack.cli(
        "ask", QUESTION, "--id", "s-iter-resume", "--strategy", "iterative", "--detach",
        "--no-worker",
    )  # fmt: skip
    assert detached.returncode == 0, detached.stderr
    worker = stack.spawn_worker(DEEPRESEARCH_MODEL_ATTEMPTS="1")
    try:
        wait_for_turns(stack, 3)
        stack.model.fail_next(100, status=503)  # down before round 4
        failed = stack.cli("watch", "s-iter-resume")
        assert failed.returncode == 1, failed.stderr
    finally:
        worker.terminate()
        worker.wait(20)
    stack.model.clear_faults()
    resumed = stack.cli("resume", "s-iter-resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["termination"] == "answer"

    client = await Client.connect(temporal_address, data_converter=data_converter(
        stack.data_dir / "blobs"))  # fmt: skip
    history = await client.get_workflow_handle("s-iter-resume").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (request,) = await client.data_converter.decode(started.input.payloads)
    kinds = [m.get("type") for m in request["resume_state"]["messages"]]
    assert kinds.count("ai") == 3  # rounds 1-3, not only the last one
    assert request["resumed_from"]
    shown = json.loads(stack.cli("show", "s-iter-resume", "--json").stdout)
    thinks = [s for s in shown["steps"] if s["node"] == "think"]
    assert len(thinks) == 5  # three rounds, the failed call, the answer after the resume
    assert shown["status"] == "completed"
