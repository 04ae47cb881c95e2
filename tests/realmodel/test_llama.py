"""deepresearch against a real inference server: llama-cpp-python serving Gemma 3 270M.

The model is far too small to research; these tests check what a real server does to our
client, parsers and limits (streams, usage, stop, context overflow, a crash), not answers.
Run alone with `.venv/bin/python -m pytest -m realmodel`."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from openai import AsyncOpenAI

from activities.context import ModelEndpoint
from activities.llm import healthy
from graphs import prompts
from tests.conftest import CLI, REPO
from tests.realmodel.conftest import N_CTX, Real

pytestmark = [pytest.mark.realmodel, pytest.mark.slow]

QUESTION = "What is the capital of France, and which river flows through it?"
TERMINATIONS = {
    prompts.TERMINATION_ANSWER,
    prompts.TERMINATION_LLM_LIMIT,
    prompts.TERMINATION_NOT_FOUND,
    prompts.TERMINATION_TOKEN_LIMIT,
    prompts.TERMINATION_TOKEN_LIMIT_FORMAT_ERROR,
}


def assert_clean(real: Real, result: subprocess.CompletedProcess[str]) -> int:
    """No traceback anywhere, and the server accepted every request it got; a stream it cut
    short (another request arrived meanwhile) was asked again unstreamed at once. Returns the
    number of such re-asks."""
    assert "Traceback" not in result.stdout + result.stderr
    chats = real.proxy.chats()
    assert chats, "the server got no chat request"
    assert [c["status"] for c in chats] == [200] * len(chats)
    cut = [i for i, c in enumerate(chats) if not c["complete"] or not c["finished"]]
    for i in cut:
        again = chats[i + 1]["request"]
        assert not again.get("stream") and again["messages"] == chats[i]["request"]["messages"]
    return len(cut)


@pytest.mark.parametrize("protocol", ["tongyi", "openai"])
def test_session_completes(real: Real, protocol: str) -> None:
    asked = real.ask(QUESTION, DEEPRESEARCH_PROTOCOL=protocol)
    report = asked.report
    assert report["termination"] in TERMINATIONS
    assert isinstance(report["answer"], str)
    reasked = assert_clean(real, asked.result)
    research = real.research_chats()
    assert len(research) == report["llm_calls"] + reasked >= 1
    for chat in research:
        request = chat["request"]
        assert request["max_tokens"] == 96  # DEEPRESEARCH_MAX_TOKENS
        assert (request.get("tools") is not None) == (protocol == "openai")
        if request.get("stream"):
            assert chat["usage"] is None  # llama-cpp-python ignores stream_options
    if protocol == "tongyi":
        assert research[0]["request"]["stop"] == list(prompts.STOP_SEQUENCES)
        for chat in research:  # the server cut each reply before a stop sequence
            assert all(stop not in chat["text"] for stop in prompts.STOP_SEQUENCES)
    # Without usage in the stream the counts are our estimate, never zero.
    assert report["prompt_tokens"] > 0 and report["completion_tokens"] > 0


def test_token_usage_is_the_servers_when_not_streaming(real: Real) -> None:
    """DEEPRESEARCH_MODEL_STREAM=false: plain requests, whose usage the server reports; the
    session's totals are exactly the sums of what it reported."""
    asked = real.ask(QUESTION, DEEPRESEARCH_MODEL_STREAM="false")
    report = asked.report
    assert assert_clean(real, asked.result) == 0  # a plain request is never cut short
    research = real.research_chats()
    assert len(research) == report["llm_calls"]
    assert all(not c["request"].get("stream") for c in research)
    usages = [c["usage"] for c in research]
    assert all(usage is not None for usage in usages)
    assert report["prompt_tokens"] == sum(u["prompt_tokens"] for u in usages)
    assert report["completion_tokens"] == sum(u["completion_tokens"] for u in usages)


def test_forced_answer_before_the_servers_window(real: Real) -> None:
    """A conversation past DEEPRESEARCH_MAX_CONTEXT_TOKENS (set below the server's window)
    gets the reference's forced-answer turn, which the server still accepts."""
    for attempt in range(3):  # the model may answer at once (no turn passes the budget then)
        asked = real.ask(QUESTION, "--id", f"forced-{attempt}",
                         DEEPRESEARCH_MAX_CONTEXT_TOKENS="1024",
                         DEEPRESEARCH_MAX_LLM_CALLS="4")  # fmt: skip
        report = asked.report
        if report["termination"] != "answer" or report["llm_calls"] > 1:
            break
    assert report["termination"] in {
        prompts.TERMINATION_TOKEN_LIMIT,
        prompts.TERMINATION_TOKEN_LIMIT_FORMAT_ERROR,
    }
    assert_clean(real, asked.result)
    research = real.research_chats()
    last = research[-1]["request"]["messages"][-1]["content"]
    assert prompts.FORCED_ANSWER_PROMPT in last


def test_prompt_past_the_servers_window_fails_in_one_line(real: Real) -> None:
    """A question longer than the server's window: one clear failure, no retry loop. (The
    server streams an empty 200 for it; re-asked plainly it answers 400, which is final.)"""
    question = "Summarise this text. " + "The river flows past the old town. " * 700
    asked = real.ask(question, "--id", "r-overflow")
    result = asked.result
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    error = result.stderr.strip()
    assert error.count("\n") == 0, error
    assert f"maximum context length is {N_CTX} tokens" in error
    assert "HTTP 400" in error
    statuses = [c["status"] for c in real.proxy.chats()]
    assert statuses == [200, 400]  # the empty stream, then the plain request: nothing more


async def test_pool_health_check(real: Real) -> None:
    """The inference pool's health check reads the real server's /v1/models."""
    client = AsyncOpenAI(base_url=f"{real.server.url}/v1", api_key="EMPTY", max_retries=0)
    endpoint = ModelEndpoint(client, real.server.alias)
    assert await healthy(endpoint)
    real.server.kill()
    assert not await healthy(endpoint, timeout=1)
    real.server.start()
    assert await healthy(endpoint)
    listed = await client.models.list()
    assert [model.id for model in listed.data] == [real.server.alias]


def test_server_killed_mid_generation_then_restarted(real: Real) -> None:
    """SIGKILL the server while it streams a reply, start it again: the model call is retried
    and the session completes."""
    env = {**real.stack.env, **real.env, "DEEPRESEARCH_MAX_TOKENS": "240",
           "DEEPRESEARCH_MAX_LLM_CALLS": "1"}  # fmt: skip
    ask = subprocess.Popen(
        [*CLI, "ask", QUESTION, "--json"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert real.proxy.streaming.wait(180), "no reply started streaming"
        real.server.kill()
        cut = real.proxy.chats()[0]
        killed_at = time.monotonic()
        real.server.start()
        stdout, stderr = ask.communicate(timeout=300)
    finally:
        if ask.poll() is None:
            ask.send_signal(signal.SIGKILL)
            ask.wait(10)
    assert not cut["complete"], "the reply had finished before the kill"
    assert ask.returncode == 0, stderr
    assert "Traceback" not in stdout + stderr
    chats = real.proxy.chats()
    assert len(chats) >= 2 and chats[-1]["complete"] and chats[-1]["status"] == 200
    print(f"server restarted and session finished {time.monotonic() - killed_at:.1f} s after kill")
    print([(r.method, r.path, r.status, round(r.at - killed_at, 1)) for r in real.proxy.records()])
