"""End-to-end sessions through the CLI against a real dev server and loopback fakes."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from temporalio.client import Client

from graphs import prompts
from tests.conftest import Stack
from tests.fakes import Response
from tests.fakes.model import EXTRACTION_PREFIX

QUESTION = "Who won the 2024 Turing Award and for what?"
ANSWER = "Andrew Barto and Richard Sutton, for reinforcement learning."


def call(name: str, arguments: dict[str, object], thought: str = "next step") -> str:
    body = json.dumps({"name": name, "arguments": arguments})
    return f"<think>{thought}</think>\n<tool_call>\n{body}\n</tool_call>"


def answer(text: str = ANSWER) -> str:
    return f"<think>I have enough.</think>\n<answer>{text}</answer>"


def four_call_script(stack: Stack) -> list[str]:
    """Two searches then two page reads: four tool calls, three model turns before the answer."""
    pages = [f"{stack.jina.url}/page/turing-{i}" for i in (1, 2)]
    return [
        call("search", {"query": ["turing award 2024", "turing award reinforcement learning"]}),
        call("visit", {"url": pages, "goal": "who won and why"}),
        answer(),
    ]


def ask_json(stack: Stack, *args: str, timeout: str = "120", **env: str) -> dict[str, object]:
    result = stack.cli("ask", QUESTION, "--json", *args, timeout=float(timeout), **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def finish_on_a_new_worker(stack: Stack, session_id: str) -> dict[str, object]:
    """Start a fresh worker, attach to the session until its report, then stop the worker."""
    worker = stack.spawn_worker("worker-2.log")
    try:
        return ask_json(stack, "--id", session_id, "--no-worker")
    finally:
        worker.terminate()
        worker.wait(20)


def test_ask_json_then_show(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    started = time.monotonic()
    report = ask_json(stack, "--id", "s-basic")
    elapsed = time.monotonic() - started
    print(f"scripted session (3 tool turns + answer) through the CLI: {elapsed:.2f}s")
    assert report["answer"] == ANSWER
    assert report["termination"] == "answer"
    assert report["llm_calls"] == 3
    assert report["tool_calls"] == 4
    assert report["sources"] == [f"{stack.jina.url}/page/turing-{i}" for i in (1, 2)]
    assert report["prompt_tokens"] > 0

    shown = stack.cli("show", "s-basic", "--json")
    assert shown.returncode == 0, shown.stderr
    timeline = json.loads(shown.stdout)
    assert timeline["status"] == "completed"
    nodes = [step["node"] for step in timeline["steps"]]
    assert nodes.count("think") == 3 and nodes.count("search") == 2
    # each page read and extracted in one activity (`read`), not `fetch` then `extract`
    assert nodes.count("read") == 2 and "fetch" not in nodes and "extract" not in nodes
    reads = [step for step in timeline["steps"] if step["node"] == "read"]
    assert all(step["observation"].startswith("The useful information in ") for step in reads)
    assert all(step["page_blob"].startswith("sha256:") for step in reads)
    summaries = {step["summary"] for step in timeline["steps"]}
    assert 'search: "turing award 2024"' in summaries
    assert f"visit: {stack.jina.url}/page/turing-1" in summaries
    first = timeline["steps"][0]
    assert first["tool_call"]["name"] == "search"
    assert first["thought"] == "next step"
    assert (
        "A Google search for 'turing award 2024' found 3 results"
        in timeline["steps"][1]["observation"]
    )
    assert timeline["report"]["answer"] == ANSWER

    # The model saw the search results joined the reference's way in its second turn.
    second = stack.model.research_requests()[1].body["messages"]
    response = second[-1]["content"]
    assert response.startswith("<tool_response>\nA Google search for 'turing award 2024'")
    assert "\n=======\nA Google search for 'turing award reinforcement learning'" in response

    # Asking again with the same id does not run the session twice.
    again = ask_json(stack, "--id", "s-basic")
    assert again["answer"] == ANSWER
    assert len(stack.model.research_requests()) == 3


def test_flaky_tools_give_the_same_answer(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    stack.serper.fail_next(2, status=503)
    stack.jina.fail_next(2, status=429, retry_after=0.2)
    report = ask_json(stack)
    assert report["answer"] == ANSWER and report["termination"] == "answer"
    assert report["sources"] == [f"{stack.jina.url}/page/turing-{i}" for i in (1, 2)]
    assert [r.status for r in stack.serper.requests].count(503) == 2
    assert sorted(stack.serper.queries()) == [
        "turing award 2024",
        "turing award reinforcement learning",
    ]
    assert [r.status for r in stack.jina.requests].count(429) == 2
    assert len(stack.jina.read_targets()) == 2
    # The observations the model saw are the fault-free ones.
    visit_turn = stack.model.research_requests()[2].body["messages"][-1]["content"]
    assert "could not be accessed" not in visit_turn
    assert "Evidence in page" in visit_turn


def test_a_failed_extraction_is_retried_without_reading_the_page_again(stack: Stack) -> None:
    """`read` fetches and extracts a page in one activity; the page's digest rides in its
    heartbeat details, so the attempt after a failed extraction extracts the stored page."""
    page = f"{stack.jina.url}/page/turing-1"
    stack.script(QUESTION, [call("visit", {"url": [page], "goal": "who won"}), answer()])
    failures = iter([503, 503])
    handle = stack.model.handle

    def flaky(method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        if EXTRACTION_PREFIX in body.decode("utf-8", "replace"):
            status = next(failures, None)
            if status is not None:  # at once: before any background beat carried the digest
                return Response(status, {}, [b"overloaded"])
        return handle(method, path, headers, body)

    stack.model.handle = flaky  # type: ignore[method-assign]
    report = ask_json(stack)
    assert report["answer"] == ANSWER and report["sources"] == [page]
    assert len(stack.jina.read_targets()) == 1  # read once, extracted on the third attempt
    seen = stack.model.research_requests()[1].body["messages"][-1]["content"]
    assert "Evidence in page" in seen and "could not be accessed" not in seen


def test_tool_that_keeps_failing_becomes_an_observation(stack: Stack) -> None:
    stack.script(QUESTION, [call("search", {"query": ["anything"]}), answer()])
    stack.serper.fail_next(50, status=503)
    report = ask_json(stack, DEEPRESEARCH_TOOL_ATTEMPTS="2")
    assert report["answer"] == ANSWER
    seen = stack.model.research_requests()[1].body["messages"][-1]["content"]
    assert seen == f"<tool_response>\n{prompts.SEARCH_TIMEOUT}\n</tool_response>"


def test_tool_that_hangs_past_its_timeout_becomes_an_observation(stack: Stack) -> None:
    """Each attempt answers shortly before its start-to-close timeout; before, the server's
    timeout of the last attempt failed the whole session."""
    stack.script(QUESTION, [call("search", {"query": ["anything"]}), answer()])
    stack.serper.hang_next(2)
    report = ask_json(stack, DEEPRESEARCH_TOOL_ATTEMPTS="2", DEEPRESEARCH_TOOL_TIMEOUT_SECONDS="2")
    assert report["answer"] == ANSWER
    assert [r.status for r in stack.serper.records()] == [0, 0]  # both attempts hung
    seen = stack.model.research_requests()[1].body["messages"][-1]["content"]
    assert seen == f"<tool_response>\n{prompts.SEARCH_TIMEOUT}\n</tool_response>"


def test_malformed_model_output_is_an_observation(stack: Stack) -> None:
    stack.script(
        QUESTION,
        [
            '<think>oops</think>\n<tool_call>\n{"name": "search", "arguments": {"query": [\n'
            "</tool_call>",
            call("no_such_tool", {}),
            answer(),
        ],
    )
    report = ask_json(stack)
    assert report["termination"] == "answer"
    turns = stack.model.research_requests()
    assert "Tool call is not a valid JSON" in turns[1].body["messages"][-1]["content"]
    assert "Error: Tool no_such_tool not found" in turns[2].body["messages"][-1]["content"]


def test_llm_call_limit(stack: Stack) -> None:
    stack.script(QUESTION, [call("search", {"query": ["again"]})])
    report = ask_json(stack, "--max-llm-calls", "3")
    assert report["answer"] == "No answer found."
    assert report["termination"] == "exceed available llm calls"
    assert report["llm_calls"] == 3
    assert len(stack.model.research_requests()) == 3


def test_model_endpoint_down_fails_visibly(stack: Stack) -> None:
    stack.script(QUESTION, [answer()])
    stack.model.fail_next(100, status=503)
    result = stack.cli("ask", QUESTION, "--id", "s-down", DEEPRESEARCH_MODEL_ATTEMPTS="2")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "session s-down failed" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert "HTTP 503" in lines[0]
    chats = [r.status for r in stack.model.requests if r.path.endswith("/chat/completions")]
    assert chats == [503, 503]  # DEEPRESEARCH_MODEL_ATTEMPTS


def test_no_model_configured_is_one_line(stack: Stack) -> None:
    result = stack.cli("ask", QUESTION, OPENAI_BASE_URL="", DEEPRESEARCH_MODEL="")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "OPENAI_BASE_URL" in result.stderr and "DEEPRESEARCH_MODEL" in result.stderr
    assert "Traceback" not in result.stderr


def test_empty_question_is_one_line(stack: Stack) -> None:
    result = stack.cli("ask", "   ")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: the question is empty"


def test_show_unknown_session(stack: Stack) -> None:
    result = stack.cli("show", "no-such-session")
    assert result.returncode == 2
    assert "no session with id 'no-such-session'" in result.stderr


def test_detach_then_attach(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    detached = stack.cli("ask", QUESTION, "--id", "s-detach", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    assert detached.stdout.strip() == "s-detach"
    report = ask_json(stack, "--id", "s-detach")
    assert report["answer"] == ANSWER
    assert len(stack.model.research_requests()) == 3


def test_worker_sigkill_mid_session(stack: Stack) -> None:
    """Kill -9 the worker after two tool calls completed; a new worker finishes the session and
    no completed call is sent again."""
    stack.script(QUESTION, four_call_script(stack))
    stack.jina.latency = 1.5  # page reads are in flight when the worker dies
    started = time.monotonic()
    detached = stack.cli("ask", QUESTION, "--id", "s-crash", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    first = stack.spawn_worker("worker-1.log")
    try:
        stack.jina.wait_for_requests(1, timeout=60)  # both searches done, a read has started
        assert len(stack.serper.queries()) == 2
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    second = stack.spawn_worker("worker-2.log")
    try:
        stack.jina.latency = 0
        report = ask_json(stack, "--id", "s-crash", "--no-worker")
    finally:
        second.terminate()
        second.wait(20)
    elapsed = time.monotonic() - started
    print(f"crash test wall time: {elapsed:.2f}s")
    assert report["answer"] == ANSWER and report["termination"] == "answer"
    assert report["tool_calls"] == 4
    # Completed calls ran once: each search query once, each model turn once.
    assert sorted(stack.serper.queries()) == [
        "turing award 2024",
        "turing award reinforcement learning",
    ]
    turns = [r.meta["turn"] for r in stack.model.research_requests()]
    assert sorted(turns) == [0, 1, 2]
    assert second.returncode == 0  # SIGTERM: graceful shutdown


def test_unreachable_model_endpoint_is_one_line(stack: Stack) -> None:
    result = stack.cli("ask", QUESTION, OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot reach the model endpoint at http://127.0.0.1:9")
    assert result.stderr.strip().count("\n") == 0


def test_wrong_model_key_is_one_line(stack: Stack) -> None:
    stack.model.api_key = "the-right-key"
    result = stack.cli("ask", QUESTION, OPENAI_API_KEY="a-wrong-key")
    assert result.returncode == 2
    assert "rejected the key; check OPENAI_API_KEY" in result.stderr
    assert "a-wrong-key" not in result.stderr


async def test_progress_query_while_running(stack: Stack, temporal_address: str) -> None:
    stack.script(QUESTION, four_call_script(stack))
    stack.jina.latency = 2.0  # hold the session in its page reads
    detached = stack.cli("ask", QUESTION, "--id", "s-progress", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    worker = stack.spawn_worker()
    try:
        stack.jina.wait_for_requests(1, timeout=60)
        client = await Client.connect(temporal_address)
        progress = await client.get_workflow_handle("s-progress").query("progress")
        assert progress["step"] == 2 and progress["llm_calls"] == 2
        assert progress["tool_calls"] == 4  # 2 searches done, 2 reads planned
        assert progress["last_action"].startswith(('visit {"url": [', "read http://"))
        assert progress["tokens"] > 0 and not progress["done"]
        stack.jina.latency = 0
        report = ask_json(stack, "--id", "s-progress", "--no-worker")
        assert report["answer"] == ANSWER
    finally:
        worker.terminate()
        worker.wait(20)


def wait_for_turns(stack: Stack, turns: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(stack.model.research_requests()) < turns:
        assert time.monotonic() < deadline, f"the model never got {turns} turns"
        time.sleep(0.05)


def test_steer_then_cancel(stack: Stack) -> None:
    """An operator's note reaches the model before its next turn; cancel ends the session with
    the model's best answer and no further tool calls."""
    pages = [f"{stack.jina.url}/page/slow-{i}" for i in (1, 2)]
    stack.script(
        QUESTION,
        [
            call("visit", {"url": pages, "goal": "who won"}),
            call("search", {"query": ["more"]}),
            answer("Best guess: Barto and Sutton."),  # the reply to the cancel prompt
        ],
    )
    stack.jina.latency = 5  # turn 1's page reads are slow
    stack.serper.latency = 5  # and so is turn 2's search
    detached = stack.cli("ask", QUESTION, "--id", "s-ctl", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    worker = stack.spawn_worker()
    try:
        wait_for_turns(stack, 1)  # turn 1 answered: its reads are in flight
        steered = stack.cli("steer", "s-ctl", "Prefer the ACM announcement.")
        assert steered.returncode == 0, steered.stderr
        wait_for_turns(stack, 2)  # turn 2 answered: its search is in flight
        cancelled = stack.cli("cancel", "s-ctl", "--reason", "enough")
        assert cancelled.returncode == 0, cancelled.stderr
        report = ask_json(stack, "--id", "s-ctl", "--no-worker")
    finally:
        worker.terminate()
        worker.wait(20)
    assert report["termination"] == "cancelled"
    assert report["answer"] == "Best guess: Barto and Sutton."
    turns = stack.model.research_requests()
    assert len(turns) == 3
    second = [m["content"] for m in turns[1].body["messages"]]
    assert second[-1] == "Note from the operator: Prefer the ACM announcement."
    assert second[-2].startswith("<tool_response>\nThe useful information in")
    third = [m["content"] for m in turns[2].body["messages"]]
    assert third[-1].startswith("The operator has stopped this research.")
    assert stack.serper.queries() == ["more"]  # the search already in flight completed
    # Cancelling a finished session is a clear one-line error.
    late = stack.cli("cancel", "s-ctl")
    assert late.returncode == 2 and "is not running (it is completed)" in late.stderr


def test_resume_a_failed_session(stack: Stack) -> None:
    """The model endpoint dies mid-session, the session fails; once it is back, `resume`
    continues from the failed model call without redoing the search or the first turn."""
    stack.script(QUESTION, [call("search", {"query": ["turing award"]}), answer()])
    stack.serper.latency = 2
    detached = stack.cli("ask", QUESTION, "--id", "s-resume", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    worker = stack.spawn_worker(DEEPRESEARCH_MODEL_ATTEMPTS="2")
    try:
        wait_for_turns(stack, 1)
        stack.model.fail_next(100, status=503)  # down before turn 2
        failed = stack.cli("ask", QUESTION, "--id", "s-resume", "--no-worker")
        assert failed.returncode == 1 and "failed" in failed.stderr
    finally:
        worker.terminate()
        worker.wait(20)
    stack.model.clear_faults()
    result = stack.cli("resume", "s-resume", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["answer"] == ANSWER and report["termination"] == "answer"
    assert report["llm_calls"] == 2 and report["tool_calls"] == 1
    assert stack.serper.queries() == ["turing award"]
    assert [r.meta["turn"] for r in stack.model.research_requests()] == [0, 1]
    again = stack.cli("resume", "s-resume")
    assert again.returncode == 2 and "is completed" in again.stderr


def test_list_finds_sessions_by_status_and_words(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    ask_json(stack, "--id", "s-listed")
    deadline = time.monotonic() + 10
    while True:  # visibility is eventually consistent
        listed = stack.cli("list", "--json", "--query", "Turing", "--since", "1h")
        assert listed.returncode == 0, listed.stderr
        rows = {row["session_id"]: row for row in json.loads(listed.stdout)}
        if "s-listed" in rows and rows["s-listed"]["termination"] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    row = rows["s-listed"]
    assert row["status"] == "completed" and row["steps"] == 3
    assert row["termination"] == "answer" and row["model"] == "fake-model"
    assert row["question"] == QUESTION
    running = json.loads(stack.cli("list", "--json", "--status", "running").stdout)
    assert "s-listed" not in {r["session_id"] for r in running}
    other = json.loads(stack.cli("list", "--json", "--query", "zebras").stdout)
    assert "s-listed" not in {r["session_id"] for r in other}
    bad = stack.cli("list", "--status", "sleeping")
    assert bad.returncode == 2 and "choose from running" in bad.stderr


def test_export_in_the_reference_format(stack: Stack, tmp_path: Path) -> None:
    stack.script(QUESTION, four_call_script(stack))
    ask_json(stack, "--id", "s-export")
    out = tmp_path / "iter1.jsonl"
    result = stack.cli("export", "s-export", "--out", str(out))
    assert result.returncode == 0, result.stderr
    (line,) = out.read_text().splitlines()
    record = json.loads(line)
    assert list(record) == ["question", "answer", "messages", "prediction", "termination"]
    assert record["prediction"] == ANSWER and record["termination"] == "answer"
    # Byte for byte what the model was sent on its last turn, plus its final reply.
    last_request = stack.model.research_requests()[-1].body["messages"]
    assert record["messages"][:-1] == last_request
    assert record["messages"][-1] == {"role": "assistant", "content": answer()}
    assert record["messages"][0]["content"].startswith(prompts.SYSTEM_PROMPT)
    missing = stack.cli("export", "nope")
    assert missing.returncode == 2 and "no session with id 'nope'" in missing.stderr


def test_show_follow_streams_steps_until_the_end(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    stack.serper.latency = 1.0
    detached = stack.cli("ask", QUESTION, "--id", "s-follow", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    worker = stack.spawn_worker()
    try:
        followed = stack.cli("show", "s-follow", "--follow", "--json")
    finally:
        worker.terminate()
        worker.wait(20)
    assert followed.returncode == 0, followed.stderr
    lines = [json.loads(line) for line in followed.stdout.splitlines()]
    steps, outcome = lines[:-1], lines[-1]
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    nodes = ["think", "search", "search", "think", "read", "read", "think"]
    assert [s["node"] for s in steps] == nodes  # a page fetched and extracted in one step
    assert all(s["status"] == "completed" for s in steps)
    assert outcome["status"] == "completed" and outcome["report"]["answer"] == ANSWER


def test_sigterm_lets_in_flight_calls_finish(stack: Stack) -> None:
    """A worker told to stop (SIGTERM) finishes its running tool calls before it exits; the
    next worker carries on without running them again."""
    stack.script(QUESTION, four_call_script(stack))
    stack.serper.latency = 3
    detached = stack.cli("ask", QUESTION, "--id", "s-sigterm", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    first = stack.spawn_worker("worker-1.log")
    wait_for_turns(stack, 1)
    time.sleep(0.5)  # the two searches are in flight
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    assert [r.status for r in stack.serper.requests] == [200, 200]  # they finished
    stack.serper.latency = 0
    report = finish_on_a_new_worker(stack, "s-sigterm")
    assert report["answer"] == ANSWER
    assert len(stack.serper.requests) == 2  # not sent again


def test_watch_waits_for_the_answer(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    stack.serper.latency = 1
    detached = stack.cli("ask", QUESTION, "--id", "s-watch", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    worker = stack.spawn_worker()
    try:
        watched = stack.cli("watch", "s-watch", "--json")
    finally:
        worker.terminate()
        worker.wait(20)
    assert watched.returncode == 0, watched.stderr
    assert json.loads(watched.stdout)["answer"] == ANSWER
    assert stack.cli("watch", "nope").returncode == 2


def test_ask_with_a_file_for_parse_file(stack: Stack, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("The 2024 Turing Award went to Barto and Sutton.\n")
    stack.script(QUESTION, [call("parse_file", {"files": ["notes.txt", "other.pdf"]}), answer()])
    report = ask_json(stack, "--file", str(notes))
    assert report["answer"] == ANSWER
    first, second = stack.model.research_requests()
    user = first.body["messages"][1]["content"]
    assert user == f"(Uploaded 1 file: ['notes.txt'])\n\n{QUESTION}"
    seen = second.body["messages"][-1]["content"]
    assert seen.startswith("<tool_response>\nFile token number: ")
    assert "# File: notes.txt\nThe 2024 Turing Award went to Barto and Sutton." in seen
    assert "# Error processing other.pdf" in seen
    missing = stack.cli("ask", QUESTION, "--file", str(tmp_path / "nope.pdf"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_local_corpus_session_without_network_tools(stack: Stack, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "turing.md").write_text(
        "# Turing Award 2024\n\nBarto and Sutton received the 2024 Turing Award for "
        "reinforcement learning.\n"
    )
    (corpus / "other.md").write_text("# Gardening\n\nTomatoes need sun.\n")
    indexed = stack.cli("index", str(corpus))
    assert indexed.returncode == 0, indexed.stderr
    assert "2 added" in indexed.stdout
    stack.script(
        QUESTION,
        [
            call("search", {"query": ["turing award reinforcement"]}),
            call("visit", {"url": ["doc:turing.md"], "goal": "who won"}),
            answer(),
        ],
    )
    report = ask_json(stack, DEEPRESEARCH_SEARCH="local")
    assert report["answer"] == ANSWER and report["sources"] == ["doc:turing.md"]
    second, third = stack.model.research_requests()[1:]
    results = second.body["messages"][-1]["content"]
    assert "A Google search for 'turing award reinforcement' found" in results
    assert results.index("(doc:turing.md)") < results.find("(doc:other.md)") or (
        "doc:other.md" not in results
    )
    assert "Barto and Sutton received" in third.body["messages"][-1]["content"]
    assert stack.serper.requests == [] and stack.jina.requests == []  # no network tool used


def test_python_interpreter_in_a_session(stack: Stack) -> None:
    code = "import socket\nprint(sum(range(10)))\nsocket.create_connection(('127.0.0.1', 9), 1)"
    body = json.dumps({"name": "PythonInterpreter", "arguments": {}})
    stack.script(
        QUESTION,
        [
            f"<think>compute</think>\n<tool_call>\n{body}\n<code>\n{code}\n</code>\n</tool_call>",
            answer(),
        ],
    )
    report = ask_json(stack)
    assert report["answer"] == ANSWER and report["tool_calls"] == 1
    seen = stack.model.research_requests()[1].body["messages"][-1]["content"]
    assert seen.startswith("<tool_response>\nstdout:\n45\n\nstderr:\n")
    assert "Network is unreachable" in seen  # the sandbox has no network


def test_show_prints_a_page_blob_in_full(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    ask_json(stack, "--id", "s-blob")
    timeline = json.loads(stack.cli("show", "s-blob", "--json").stdout)
    digest = next(step["page_blob"] for step in timeline["steps"] if step["node"] == "read")
    page = stack.cli("show", "s-blob", "--blob", digest)
    assert page.returncode == 0, page.stderr
    assert page.stdout.startswith("Title: turing-")  # the whole page Jina returned
    assert "Markdown Content:" in page.stdout
    bad = stack.cli("show", "s-blob", "--blob", "sha256:" + "0" * 64)
    assert bad.returncode == 2 and "is not in" in bad.stderr


def test_no_healthy_model_server_fails_the_session_after_the_wait(stack: Stack) -> None:
    stack.script(QUESTION, [answer()])
    detached = stack.cli("ask", QUESTION, "--id", "s-nomodel", "--detach", "--no-worker")
    assert detached.returncode == 0, detached.stderr
    stack.model.stop()  # the model server is down: the inference worker does not poll
    worker = stack.spawn_worker(DEEPRESEARCH_MODEL_WAIT_SECONDS="3")
    try:
        result = stack.cli("ask", QUESTION, "--id", "s-nomodel", "--no-worker")
    finally:
        worker.terminate()
        worker.wait(20)
    assert result.returncode == 1
    assert "no model replica took the call within 3 s" in result.stderr
