"""Forks against a real dev server and the loopback fakes (which log every request): a fork
at step 3 of a six-step session sends nothing for steps 1..3, its first model request carries
the original conversation through step 3 byte for byte under another model name, it survives
its worker's SIGKILL without repeating a completed call; `compare` finds where the two
diverge; the refusals are one line."""

from __future__ import annotations

import json
import signal
from typing import Any

from tests.conftest import Stack
from tests.workflow.test_session import ANSWER, QUESTION, answer, ask_json, call

FORK_MODEL = "other-model"
FORK_ANSWER = "Barto and Sutton (the fork's answer)."


def six_steps(stack: Stack) -> list[str]:
    """Five tool turns (searches and page reads) and the answer: six model calls."""
    page = f"{stack.jina.url}/page/turing"
    return [
        call("search", {"query": ["turing award 2024"]}),
        call("visit", {"url": [f"{page}-1"], "goal": "who won"}),
        call("search", {"query": ["barto sutton reinforcement learning"]}),
        call("visit", {"url": [f"{page}-2"], "goal": "what for"}),
        call("search", {"query": ["turing award citation"]}),
        answer(),
    ]


def script_fork(stack: Stack) -> str:
    """The fork's own turns: the fake picks them by the model name its requests carry (the
    turn is still counted from the conversation: its first request is turn 3)."""
    page = f"{stack.jina.url}/page/fork-only"
    stack.script(
        "FORK",
        ["", "", "", call("visit", {"url": [page], "goal": "the citation"}), answer(FORK_ANSWER)],
    )

    def key(payload: dict[str, Any]) -> str | None:
        return "FORK" if payload.get("model") == FORK_MODEL else None

    stack.model.script_key = key
    return page


def fork_json(stack: Stack, *args: str, timeout: float = 120) -> dict[str, Any]:
    result = stack.cli("fork", *args, "--json", timeout=timeout)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def bodies(stack: Stack, model: str | None = None) -> list[dict[str, Any]]:
    requests = stack.model.research_requests()
    return [r.body for r in requests if model is None or r.body.get("model") == model]


def test_a_fork_takes_steps_over_and_goes_on_live(stack: Stack) -> None:
    stack.script(QUESTION, six_steps(stack))
    fork_page = script_fork(stack)
    original = ask_json(stack, "--id", "k-orig")
    assert original["answer"] == ANSWER and original["llm_calls"] == 6
    searches, reads = list(stack.serper.queries()), list(stack.jina.read_targets())
    assert len(searches) == 3 and len(reads) == 2
    recorded = bodies(stack)
    assert len(recorded) == 6

    forked = fork_json(stack, "k-orig", "--at-step", "3", "--model", FORK_MODEL, "--id", "k-fork")
    assert forked["answer"] == FORK_ANSWER
    assert forked["forked_from"] == "k-orig" and forked["forked_at_step"] == 3
    assert forked["llm_calls"] == 5  # three taken over, two of its own
    # nothing sent again for steps 1..3: only the fork's own page read and its two turns
    assert stack.serper.queries() == searches
    assert stack.jina.read_targets() == [*reads, fork_page]
    own = bodies(stack, FORK_MODEL)
    assert len(bodies(stack)) == 8 and len(own) == 2
    # step 4's request: the original's conversation through step 3, byte for byte
    first = json.dumps(own[0]["messages"], ensure_ascii=False)
    assert first == json.dumps(recorded[3]["messages"], ensure_ascii=False)
    assert forked["spent"]["searches"] == 0 and forked["spent"]["pages"] == 1

    shown = json.loads(stack.cli("show", "k-fork", "--json").stdout)
    assert shown["forked_from"] == {"session": "k-orig", "step": 3}
    taken = [step for step in shown["steps"] if step.get("from") == "k-orig"]
    own_steps = [step for step in shown["steps"] if not step.get("from")]
    assert [s["node"] for s in taken] == ["think", "search", "think", "read", "think", "search"]
    assert [s["node"] for s in own_steps] == ["think", "read", "think"]
    text = stack.cli("show", "k-fork").stdout
    assert "forked from k-orig at step 3" in text and "from k-orig" in text
    assert "forks: k-fork" in stack.cli("show", "k-orig").stdout

    compared = stack.cli("compare", "k-orig", "k-fork", "--json")
    assert compared.returncode == 0, compared.stderr
    result = json.loads(compared.stdout)
    assert result["diverge_at_step"] == 4 and result["same_steps"] == 3
    assert [t["step"] for t in result["a_steps"]] == [4, 5, 6]
    assert [t["step"] for t in result["b_steps"]] == [4, 5]
    assert result["answer_changed"] is True
    assert result["sources"]["only_b"] == [fork_page]
    assert result["b"]["tokens_from_divergence"] == result["b"]["tokens"] > 0
    table = stack.cli("compare", "k-orig", "k-fork").stdout
    assert "diverging at step 4" in table

    exported = json.loads(stack.cli("export", "k-fork").stdout)
    assert exported["forked_from"] == {"session": "k-orig", "step": 3}
    assert exported["prediction"] == FORK_ANSWER
    assert exported["messages"][1]["content"] == QUESTION


def test_a_fork_with_a_new_question_keeps_the_steps(stack: Stack) -> None:
    stack.script(QUESTION, six_steps(stack))
    new_question = "Which university is Richard Sutton at?"
    stack.script(new_question, ["", "", answer("Alberta.")])
    ask_json(stack, "--id", "k-q")
    forked = fork_json(stack, "k-q", "--at-step", "2", "--question", new_question)
    assert forked["answer"] == "Alberta." and forked["question"] == new_question
    opening = bodies(stack)[-1]["messages"]
    assert opening[1]["content"] == new_question  # in place of the original's
    assert json.dumps(opening[2:]) == json.dumps(bodies(stack)[2]["messages"][2:])


def test_killing_the_worker_during_a_fork_repeats_nothing(stack: Stack) -> None:
    stack.script(QUESTION, six_steps(stack))
    fork_page = script_fork(stack)
    ask_json(stack, "--id", "k-crash")
    searches, reads = list(stack.serper.queries()), len(stack.jina.read_targets())
    stack.jina.latency = 1.5  # the fork's page read is in flight when its worker dies
    detached = stack.cli(
        "fork", "k-crash", "--at-step", "3", "--model", FORK_MODEL, "--id", "k-crash-fork",
        "--detach", "--no-worker",
    )  # fmt: skip
    assert detached.returncode == 0, detached.stderr
    first = stack.spawn_worker("worker-1.log")
    try:
        stack.jina.wait_for_requests(reads + 1, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    stack.jina.latency = 0
    second = stack.spawn_worker("worker-2.log")
    try:
        report = ask_json(stack, "--id", "k-crash-fork", "--no-worker")
    finally:
        second.terminate()
        second.wait(20)
    assert report["answer"] == FORK_ANSWER and report["forked_from"] == "k-crash"
    assert stack.serper.queries() == searches  # the taken-over searches: never again
    assert fork_page in stack.jina.read_targets()
    turns = [len([m for m in b["messages"] if m["role"] == "assistant"]) for b in
             bodies(stack, FORK_MODEL)]  # fmt: skip
    assert sorted(turns) == [3, 4]  # each of its model turns sent once


def test_fork_refusals_are_one_line(stack: Stack) -> None:
    stack.script(QUESTION, [call("search", {"query": ["turing award"]}), answer()])
    ask_json(stack, "--id", "k-short")
    missing = stack.cli("fork", "k-none", "--at-step", "1")
    assert missing.returncode == 2 and "no session with id 'k-none'" in missing.stderr
    past = stack.cli("fork", "k-short", "--at-step", "5")
    assert past.returncode == 2
    assert "has 1 completed step(s) followed by a model turn" in past.stderr, past.stderr
    taken = stack.cli("fork", "k-short", "--at-step", "1", "--id", "k-short")
    assert taken.returncode == 2 and "is taken" in taken.stderr
    bad = stack.cli("fork", "k-short", "--at-step", "1", "--strategy", "zigzag")
    assert bad.returncode == 2 and "--strategy is react or iterative" in bad.stderr
    empty = stack.cli("fork", "k-short", "--at-step", "1", "--question", "  ")
    assert empty.returncode == 2 and "the question is empty" in empty.stderr
    odd = stack.cli("compare", "k-short", "k-none")
    assert odd.returncode == 2 and "no session with id 'k-none'" in odd.stderr
    for result in (missing, past, taken, bad, empty, odd):
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_running_session_forks_from_a_completed_step(stack: Stack) -> None:
    stack.script(QUESTION, six_steps(stack))
    stack.jina.latency = 2.0  # the original is held in its step 2 page read
    detached = stack.cli("ask", QUESTION, "--id", "k-live", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    worker = stack.spawn_worker()
    try:
        stack.jina.wait_for_requests(1, timeout=60)  # step 1 done, step 2's turn taken
        forked = stack.cli("fork", "k-live", "--at-step", "1", "--id", "k-live-fork", "--detach",
                           "--no-worker")  # fmt: skip
        assert forked.returncode == 0, forked.stderr
        stack.jina.latency = 0
        fork = ask_json(stack, "--id", "k-live-fork", "--no-worker")
        original = ask_json(stack, "--id", "k-live", "--no-worker")
    finally:
        worker.terminate()
        worker.wait(20)
    assert original["answer"] == fork["answer"] == ANSWER
    assert fork["forked_from"] == "k-live" and fork["llm_calls"] == 6
    assert stack.serper.queries().count("turing award 2024") == 1  # step 1's: taken over


def test_a_heavy_sessions_synthesis_forks_over_its_branches(stack: Stack) -> None:
    from tests.workflow.test_heavy import route

    def aggregation(body: dict[str, Any]) -> str | None:
        key = route(body)
        return f"{key}-fused" if key == "integrate" and body.get("model") == FORK_MODEL else key

    stack.model.script_key = aggregation
    stack.model.scripts.update(
        {
            "b0": [call("search", {"query": ["turing award 2024"]}), answer()],
            "b1": [answer("Geoffrey Hinton")],
            "b2": [answer()],
            "report": ["<think>condensing</think>\n<report>## Solution Planning\n...</report>"],
            "integrate": [answer()],
            "integrate-fused": [answer(FORK_ANSWER)],
        }
    )
    heavy = ask_json(stack, "--id", "k-heavy", "--mode", "heavy", "--branches", "3")
    assert heavy["answer"] == ANSWER
    before = stack.model.research_requests()
    searches = list(stack.serper.queries())
    refused = stack.cli("fork", "k-heavy", "--at-step", "1")
    assert refused.returncode == 2 and "fork its synthesis: --synthesis" in refused.stderr

    forked = fork_json(
        stack, "k-heavy", "--synthesis", "fuse", "--model", FORK_MODEL, "--id", "k-heavy-fork"
    )
    assert forked["answer"] == FORK_ANSWER and forked["forked_from"] == "k-heavy"
    assert stack.serper.queries() == searches
    new = stack.model.research_requests()[len(before) :]
    assert sorted(route(r.body) or "" for r in new) == ["integrate", "report", "report", "report"]
    assert all(r.body["model"] == FORK_MODEL for r in new)  # no branch turn: only aggregation
    (integration,) = [r for r in new if route(r.body) == "integrate"]
    assert "combine the trustworthy findings" in json.dumps(integration.body)  # fuse's prompt
    shown = stack.cli("show", "k-heavy-fork").stdout
    assert "forked from k-heavy: its branches, a new synthesis" in shown
    assert "forks: k-heavy-fork" in stack.cli("show", "k-heavy").stdout


def test_a_fork_in_another_dialect_carries_the_turns_over_as_text(stack: Stack) -> None:
    stack.script(QUESTION, six_steps(stack))
    ask_json(stack, "--id", "k-dialect")
    recorded = bodies(stack)[2]["messages"]  # the tongyi conversation through step 2
    stack.script("OPENAI", ["", "", {"content": FORK_ANSWER}])
    stack.model.script_key = lambda payload: "OPENAI" if payload.get("tools") else None
    forked = fork_json(stack, "k-dialect", "--at-step", "2", "--dialect", "openai")
    assert forked["answer"] == FORK_ANSWER
    opening = bodies(stack)[-1]["messages"]
    assert [m["role"] for m in opening] == ["system", "user", "assistant", "user", "assistant",
                                            "user"]  # fmt: skip
    assert opening[2:] == recorded[2:]  # the tongyi turns and tool responses, as text
    assert opening[0] != recorded[0]  # the openai dialect's own system prompt


def test_a_fork_of_a_fork_reads_each_step_where_it_ran(stack: Stack) -> None:
    stack.script(QUESTION, six_steps(stack))
    fork_page = script_fork(stack)
    ask_json(stack, "--id", "k-root")
    recorded = bodies(stack)
    fork_json(stack, "k-root", "--at-step", "3", "--model", FORK_MODEL, "--id", "k-mid")
    # step 2 of k-mid is k-root's: it forks from there (k-mid's history begins at step 4)
    early = fork_json(stack, "k-mid", "--at-step", "2", "--id", "k-early")
    assert early["forked_from"] == "k-mid" and early["answer"] == ANSWER
    first = [b for b in bodies(stack) if b.get("model") != FORK_MODEL][len(recorded)]
    assert json.dumps(first["messages"]) == json.dumps(recorded[2]["messages"])
    # step 4 is k-mid's own: the steps before come from each session that ran them
    late = fork_json(stack, "k-mid", "--at-step", "4", "--id", "k-late")
    assert late["answer"] == FORK_ANSWER
    shown = json.loads(stack.cli("show", "k-late", "--json").stdout)
    origins = [step.get("from") for step in shown["steps"]]
    assert origins[:6] == ["k-root"] * 6 and origins[6:8] == ["k-mid"] * 2
    assert [s["node"] for s in shown["steps"][6:8]] == ["think", "read"]
    assert fork_page in [s.get("url") for s in shown["steps"][6:8]]
