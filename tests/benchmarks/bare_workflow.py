"""The concurrency benchmark's session shape with nothing of ours in it (for `bare`): a
workflow that awaits think, search, think, read, think as activities, the model calls on a
queue of their own, each activity only sleeping its latency. Its own module, with only the SDK
imported, so that the workflow sandbox loads it as it loads ours."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

LLM_QUEUE_SUFFIX = "-llm"


@dataclass
class Shape:
    latency: float  # seconds each model call (think, and the read's extraction) sleeps
    llm_queue: str
    payload: int  # characters of text each activity returns (a page, a thought)


@activity.defn(name="bare.think")
async def think(latency: float, payload: int) -> str:
    await asyncio.sleep(latency)
    return "t" * payload


@activity.defn(name="bare.search")
async def search(payload: int) -> str:
    return "s" * payload


@activity.defn(name="bare.read")
async def read(latency: float, payload: int) -> str:
    await asyncio.sleep(latency)  # the page's extraction is a model call
    return "r" * payload


@workflow.defn(name="BareSession")
class BareSession:
    @workflow.run
    async def run(self, shape: Shape) -> None:
        """Think, search, think, read, think, one after another."""
        timeout = timedelta(seconds=120)
        model_call = {"task_queue": shape.llm_queue, "start_to_close_timeout": timeout}
        turn = [shape.latency, shape.payload]
        await workflow.execute_activity(think, args=turn, **model_call)
        await workflow.execute_activity(search, shape.payload, start_to_close_timeout=timeout)
        await workflow.execute_activity(think, args=turn, **model_call)
        await workflow.execute_activity(read, args=turn, start_to_close_timeout=timeout)
        await workflow.execute_activity(think, args=turn, **model_call)
