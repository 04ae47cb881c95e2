"""Composition of the research graph: the pure topology plus the activity nodes and their
timeouts and retry policies."""

from __future__ import annotations

from datetime import timedelta

from langgraph.graph import StateGraph
from temporalio.common import RetryPolicy

from activities import files, python_exec, read, scholar, search
from graphs.react import NodeSpec, make_react_graph
from workers.config import Settings
from workers.llm_routing import ModelCallOptions, make_think_node
from workers.summaries import (
    summarize_code,
    summarize_extract,
    summarize_fetch,
    summarize_files,
    summarize_query,
)

GRAPH_NAME = "research"


def _retry(settings: Settings, attempts: int) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=settings.retry_initial_seconds),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=attempts,
    )


def make_research_graph(settings: Settings) -> StateGraph:
    """A fresh graph each call: the plugin mutates the graph it is given."""
    heartbeat = timedelta(seconds=settings.heartbeat_seconds)
    model = {
        "execute_in": "activity",
        "start_to_close_timeout": timedelta(seconds=settings.model_timeout_seconds),
        "heartbeat_timeout": heartbeat,
        "retry_policy": _retry(settings, settings.model_attempts),
    }
    tool = {
        "execute_in": "activity",
        "start_to_close_timeout": timedelta(seconds=settings.tool_timeout_seconds),
        "heartbeat_timeout": heartbeat,
        "retry_policy": _retry(settings, settings.tool_attempts),
    }
    python = {
        **tool,
        # the run's own limit plus the client margin: a run that times out still answers
        "start_to_close_timeout": timedelta(seconds=settings.tool_timeout_seconds + 60),
    }
    extract = {
        **model,
        "retry_policy": _retry(settings, settings.tool_attempts),
        "summary_fn": summarize_extract,
    }
    think = make_think_node(
        ModelCallOptions(
            queue=settings.llm_queue,
            wait=timedelta(seconds=settings.model_wait_seconds),
            timeout=timedelta(seconds=settings.model_timeout_seconds),
            heartbeat=heartbeat,
            retry=_retry(settings, settings.model_attempts),
            affinity=timedelta(seconds=settings.affinity_seconds),
        )
    )
    return make_react_graph(
        think=NodeSpec(think, {"execute_in": "workflow"}),
        extract=NodeSpec(read.extract, extract),
        tools={
            "search": NodeSpec(search.search, {**tool, "summary_fn": summarize_query("search")}),
            "scholar": NodeSpec(
                scholar.scholar, {**tool, "summary_fn": summarize_query("google_scholar")}
            ),
            "fetch": NodeSpec(read.fetch, {**tool, "summary_fn": summarize_fetch}),
            "parse_file": NodeSpec(files.parse_file, {**model, "summary_fn": summarize_files}),
            "python": NodeSpec(python_exec.python, {**python, "summary_fn": summarize_code}),
        },
    )
