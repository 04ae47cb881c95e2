"""Model client: the CPU one streamed chat completion costs the calling event loop, through the
SDK's typed `chat.completions.create` (baseline) and through `activities.llm.chat`, in the
same run, by conversation length.

    .venv/bin/python -m tests.benchmarks.model_client [--calls 200] [--turns 1,10,40]

A conversation of `turns` research turns: each an assistant message (~600 bytes) and a tool
response (~8 KB, a visited page's evidence), so 40 turns is ~100K tokens, a long session's
prompt. Both clients send the same bytes (tests/activity/test_act_llm.py checks it) to the same
fake model, which answers in its own threads; only the calling thread's CPU is counted
(`time.thread_time`), so the fake's work is not in the numbers. Prints milliseconds per call and
the ratio typed/ours.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from openai import AsyncOpenAI

from activities.context import ModelEndpoint
from activities.llm import chat, request_body
from graphs.state import Sampling
from tests.fakes import FakeModel

QUESTION = "model client benchmark question"
REPLY = "<think>enough</think>\n<answer>done</answer>"


def conversation(turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a deep research assistant. " * 40},
        {"role": "user", "content": QUESTION},
    ]
    for turn in range(turns):
        call = f'<tool_call>{{"name": "visit", "arguments": {{"url": ["u{turn}"]}}}}</tool_call>'
        messages.append({"role": "assistant", "content": "<think>" + "x" * 500 + "</think>" + call})
        messages.append(
            {"role": "user", "content": "<tool_response>" + "e" * 8000 + "</tool_response>"}
        )
    return messages


async def cpu_per_call(call: Callable[[], Awaitable[None]], calls: int) -> float:
    """Milliseconds of this thread's CPU per call, after a few warm-up calls."""
    for _ in range(5):
        await call()
    started = time.thread_time()
    for _ in range(calls):
        await call()
    return (time.thread_time() - started) / calls * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--turns", default="1,10,40")
    args = parser.parse_args()
    sampling = Sampling()
    with FakeModel(scripts={QUESTION: [REPLY]}) as model:
        client = AsyncOpenAI(base_url=f"{model.url}/v1", api_key="x", max_retries=0)
        endpoint = ModelEndpoint(client, "fake-model")
        print(f"{args.calls} streamed calls per cell; CPU of the calling thread per call")
        for turns in (int(t) for t in args.turns.split(",")):
            messages = conversation(turns)
            body = request_body(endpoint.model, messages, {}, stream=True)
            kib = len(str(body)) / 1024

            async def typed(messages: list[dict[str, Any]] = messages) -> None:
                stream = await client.chat.completions.create(
                    model=endpoint.model,
                    messages=messages,  # type: ignore[arg-type]
                    stream=True,
                    stream_options={"include_usage": True},
                    stop=None,
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    presence_penalty=sampling.presence_penalty,
                    max_tokens=sampling.max_tokens,
                )
                async with stream:
                    async for chunk in stream:
                        _ = chunk.choices and chunk.choices[0].delta.content

            async def ours(messages: list[dict[str, Any]] = messages) -> None:
                await chat(endpoint, messages, sampling)

            rounds = [await cpu_per_call(f, args.calls) for f in (typed, ours, typed, ours)]
            base, lean = min(rounds[0], rounds[2]), min(rounds[1], rounds[3])
            print(
                f"{turns:3d} turns ({len(messages):3d} messages, {kib:6.0f} KiB): "
                f"typed create {base:6.2f} ms, ours {lean:6.2f} ms, ratio {base / lean:5.2f}"
            )
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
