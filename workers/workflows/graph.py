"""Composition of the research graph: the pure topology plus the activity nodes and their
timeouts and retry policies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

from activities import files, python_exec, read, scholar, search
from activities.tape import taped
from graphs.react import NodeSpec, make_react_graph
from workers.config import RATE_LIMITED, Settings
from workers.workflows.llm_routing import ModelCallOptions, make_think_node
from workers.workflows.options import activity_options, retry_policy
from workers.workflows.summaries import (
    summarize_code,
    summarize_extract,
    summarize_fetch,
    summarize_files,
    summarize_query,
)

GRAPH_NAME = "research"

# id(builder) -> (builder, its compiled graph); the builder is kept so its id is never reused
_compiled: dict[int, tuple[StateGraph, CompiledStateGraph]] = {}


def compiled(builder: StateGraph) -> CompiledStateGraph:
    """`builder` compiled once per worker process, not once per session: compiling walks every
    node's code (~4 % of a busy worker's CPU), and a compiled graph without a checkpointer holds
    no state of a run (each `astream` builds its own), so sessions can share it."""
    entry = _compiled.get(id(builder))
    if entry is None:
        entry = _compiled[id(builder)] = (builder, builder.compile())
    return entry[1]


def _options(settings: Settings, timeout_seconds: float, attempts: int) -> dict[str, Any]:
    return activity_options(
        timeout=timedelta(seconds=timeout_seconds),
        heartbeat_seconds=settings.heartbeat_seconds,
        attempts=attempts,
        retry_initial_seconds=settings.retry_initial_seconds,
        execute_in="activity",
    )


def provider_queue(settings: Settings, provider: str) -> str:
    return f"{settings.task_queue}-{provider}"


def provider_queues(settings: Settings) -> dict[str, dict[str, str]]:
    """Node -> its options' `task_queue` for the nodes of rate-limited providers: their
    activities go to a queue of the provider's own, whose rate the server enforces for every
    worker of the cluster (`max_task_queue_activities_per_second`)."""
    return {
        node: {"task_queue": provider_queue(settings, provider)}
        for provider in settings.provider_rates
        for node in RATE_LIMITED[provider]
    }


def make_research_graph(settings: Settings) -> StateGraph:
    """A fresh graph each call: the plugin mutates the graph it is given."""
    model = _options(settings, settings.model_timeout_seconds, settings.model_attempts)
    tool = _options(settings, settings.tool_timeout_seconds, settings.tool_attempts)
    # the run's own limit plus the client margin: a run that times out still answers
    python = _options(settings, settings.tool_timeout_seconds + 60, settings.tool_attempts)
    extract = {
        **_options(settings, settings.model_timeout_seconds, settings.tool_attempts),
        "summary_fn": summarize_extract,
    }
    # a page's fetch and its extraction in one attempt: the time of both
    read_page = {
        **_options(
            settings,
            settings.tool_timeout_seconds + settings.model_timeout_seconds,
            settings.tool_attempts,
        ),
        "summary_fn": summarize_fetch,
    }
    think = make_think_node(
        ModelCallOptions(
            queue=settings.llm_queue,
            wait=timedelta(seconds=settings.model_wait_seconds),
            timeout=timedelta(seconds=settings.model_timeout_seconds),
            heartbeat=timedelta(seconds=settings.heartbeat_seconds),
            retry=retry_policy(settings.model_attempts, settings.retry_initial_seconds),
            affinity=timedelta(seconds=settings.affinity_seconds),
        )
    )
    paced = provider_queues(settings)
    return make_react_graph(
        think=NodeSpec(think, {"execute_in": "workflow"}),
        extract=NodeSpec(read.extract, extract),
        read=NodeSpec(taped("read", read.read), {**read_page, **paced.get("read", {})}),
        tools={
            "search": NodeSpec(
                taped("search", search.search),
                {**tool, "summary_fn": summarize_query("search"), **paced.get("search", {})},
            ),
            "scholar": NodeSpec(
                taped("scholar", scholar.scholar),
                {
                    **tool,
                    "summary_fn": summarize_query("google_scholar"),
                    **paced.get("scholar", {}),
                },
            ),
            "fetch": NodeSpec(
                read.fetch, {**tool, "summary_fn": summarize_fetch, **paced.get("fetch", {})}
            ),
            "parse_file": NodeSpec(files.parse_file, {**model, "summary_fn": summarize_files}),
            "python": NodeSpec(python_exec.python, {**python, "summary_fn": summarize_code}),
        },
    )
