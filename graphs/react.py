"""The ReAct research graph: START -> think -> (act -> tools -> refine -> think)* -> synthesize.

Pure and deterministic: the I/O nodes (think, search, scholar, fetch, extract) are handed in by
the composition root with their Temporal activity options as node metadata.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import get_runtime
from langgraph.types import Send

from graphs import prompts
from graphs.protocol import tongyi
from graphs.state import Control, ResearchLimits, ResearchState, ToolTask

# Tool name the model uses -> (graph node, argument that fans out, invalid-request text).
FANOUT_TOOLS: dict[str, tuple[str, str, str]] = {
    "search": ("search", "query", prompts.SEARCH_INVALID_REQUEST),
    "google_scholar": ("scholar", "query", prompts.SCHOLAR_INVALID_REQUEST),
    "visit": ("fetch", "url", prompts.VISIT_INVALID_REQUEST),
}
UNAVAILABLE_TOOL = "Error: Tool {name} is not available in this deployment."
# Every tool named in the system prompt; names outside it get the reference's "not found".
KNOWN_TOOLS = frozenset({"search", "visit", "google_scholar", "PythonInterpreter", "parse_file"})


@dataclass(frozen=True)
class NodeSpec:
    """An I/O node function plus its plugin metadata (execute_in, timeouts, retry policy)."""

    func: Callable[..., Any]
    metadata: dict[str, Any] = field(default_factory=dict)


def estimate_tokens(text: str) -> int:
    """Conservative token estimate for text the server has not counted yet (no tokenizer
    download): one token per 3 UTF-8 bytes overcounts English and roughly matches CJK."""
    return math.ceil(len(text.encode("utf-8")) / 3)


def last_ai(state: ResearchState) -> AIMessage | None:
    messages = state.get("messages") or []
    return messages[-1] if messages and isinstance(messages[-1], AIMessage) else None


def _fanout_values(value: Any) -> list[str] | None:
    if isinstance(value, str) and value.strip():
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return list(value)
    return None


def plan_tool_tasks(
    message: AIMessage, available: set[str], limits: ResearchLimits
) -> tuple[list[ToolTask], list[dict[str, Any]]]:
    """Split the turn's tool calls into fan-out tasks and immediate observations (errors)."""
    tasks: list[ToolTask] = []
    observations: list[dict[str, Any]] = []
    for bad in message.invalid_tool_calls:
        observations.append({"call_id": bad["id"], "index": 0, "text": bad["error"] or ""})
    for call in message.tool_calls:
        call_id, name, args = call["id"] or "", call["name"], call["args"]
        if name not in FANOUT_TOOLS:
            template = UNAVAILABLE_TOOL if name in KNOWN_TOOLS else prompts.TOOL_NOT_FOUND
            observations.append(
                {"call_id": call_id, "index": 0, "text": template.format(name=name)}
            )
            continue
        node, key, invalid = FANOUT_TOOLS[name]
        values = _fanout_values(args.get(key))
        goal = args.get("goal")
        if node not in available:
            observations.append(
                {"call_id": call_id, "index": 0, "text": UNAVAILABLE_TOOL.format(name=name)}
            )
        elif values is None or (node == "fetch" and not isinstance(goal, str)):
            observations.append({"call_id": call_id, "index": 0, "text": invalid})
        else:
            cap = limits.max_tool_calls_per_step
            for index, value in enumerate(values):
                if index >= cap:
                    text = f"[{name}] Skipped {value!r}: more than {cap} items in one call."
                    observations.append({"call_id": call_id, "index": index, "text": text})
                    continue
                task: ToolTask = {"call_id": call_id, "index": index, "tool": node, key: value}
                if node == "fetch":
                    task["goal"] = goal
                tasks.append(task)
    return tasks, observations


# --- workflow-side nodes (pure) ----------------------------------------------------------------


def make_act(available: set[str]) -> Callable[[ResearchState], dict[str, Any]]:
    """`act` plans the fan-out; the set of tool nodes present is fixed when the graph is built."""

    async def act(state: ResearchState) -> dict[str, Any]:
        message = last_ai(state)
        assert message is not None
        limits = ResearchLimits(**state.get("limits", {}))
        tasks, observations = plan_tool_tasks(message, available, limits)
        return {
            "pending": tasks,
            "observations": observations,
            "tool_calls": state.get("tool_calls", 0) + len(tasks),
        }

    return act


async def collect(state: ResearchState) -> dict[str, Any]:
    """Join point after fetches/searches; extraction of fetched pages starts from here."""
    return {}


def tool_response(observations: list[dict[str, Any]]) -> str:
    """Join one call's observations in fan-out order, as the reference joins multi-query results."""
    ordered = sorted(observations, key=lambda o: o["index"])
    return prompts.OBSERVATION_SEPARATOR.join(o["text"] for o in ordered)


def control() -> Control:
    """The operator's cancel/steer input (the graph's runtime context; empty outside a session)."""
    try:
        return get_runtime().context or {}
    except RuntimeError:
        return {}


async def refine(state: ResearchState) -> dict[str, Any]:
    """Fold observations into the conversation, count tokens, apply the limits and the
    operator's cancel and steer notes."""
    message = last_ai(state)
    limits = ResearchLimits(**state.get("limits", {}))
    operator = control()
    cancel = operator.get("cancel")
    new: list[AnyMessage] = []
    if message is not None:
        by_call: dict[str, list[dict[str, Any]]] = {}
        for obs in state.get("observations") or []:
            by_call.setdefault(obs["call_id"], []).append(obs)
        call_ids = [c["id"] for c in message.tool_calls] + [
            c["id"] for c in message.invalid_tool_calls
        ]
        for call_id in call_ids:
            observations = by_call.get(call_id or "", [])
            if observations or not cancel:
                text = tool_response(observations)
            else:
                text = prompts.CANCELLED_TOOL
            new.append(ToolMessage(content=text, tool_call_id=call_id, id=f"tool-{call_id}"))
    context = state.get("context_tokens", 0) + sum(estimate_tokens(str(m.content)) for m in new)
    last: AnyMessage | None = new[-1] if new else (state.get("messages") or [None])[-1]
    exhausted = state.get("llm_calls", 0) >= limits.max_llm_calls
    forced = False
    if last is not None and exhausted:
        last = tongyi.replace_content(last, prompts.LLM_CALL_LIMIT_MESSAGE)
    if last is not None and context > limits.max_context_tokens:
        last = tongyi.replace_content(last, prompts.FORCED_ANSWER_PROMPT)
        forced = True
    if new and last is not None:
        new[-1] = last
    elif last is not None:
        new = [last]
    update: dict[str, Any] = {
        "observations": None,
        "pages": None,
        "pending": [],
        "context_tokens": context,
    }
    steered = state.get("steered", 0)
    notes = (operator.get("steer") or [])[steered:]
    if notes and not forced and not exhausted:
        for offset, note in enumerate(notes):
            text = prompts.STEER_NOTE.format(note=note)
            new.append(HumanMessage(content=text, id=f"steer-{steered + offset}"))
        update["steered"] = steered + len(notes)
    if cancel and not forced and not exhausted:
        new.append(HumanMessage(content=prompts.CANCEL_PROMPT, id="cancel"))
        forced = True
        update["cancelled"] = cancel
    update |= {"messages": new, "forced": forced}
    if not forced and exhausted:
        update |= {"answer": prompts.NO_ANSWER_FOUND, "termination": prompts.TERMINATION_LLM_LIMIT}
    elif not forced and state.get("clock", 0.0) >= state.get("deadline", math.inf):
        text = wall_clock_text(limits.wall_clock_seconds)
        update |= {"answer": text, "termination": text}
    return update


def wall_clock_text(seconds: float) -> str:
    """The reference's 'No answer found after 2h30mins', for any budget."""
    minutes = int(seconds // 60)
    hours, mins = divmod(minutes, 60)
    span = f"{hours}h{mins}mins" if hours else f"{mins}mins"
    return f"No answer found after {span}"


async def synthesize(state: ResearchState) -> dict[str, Any]:
    """Final answer and termination reason, worded as the reference words them."""
    if state.get("termination"):
        return {}
    message = last_ai(state)
    content = str(message.content) if message is not None else ""
    answer = tongyi.extract_answer(content)
    if state.get("cancelled"):
        termination = prompts.TERMINATION_CANCELLED
        return {"answer": content if answer is None else answer, "termination": termination}
    if state.get("forced"):
        if answer is not None:
            return {"answer": answer, "termination": prompts.TERMINATION_TOKEN_LIMIT}
        return {"answer": content, "termination": prompts.TERMINATION_TOKEN_LIMIT_FORMAT_ERROR}
    if answer is not None:
        return {"answer": answer, "termination": prompts.TERMINATION_ANSWER}
    return {"answer": prompts.NO_ANSWER_FOUND, "termination": prompts.TERMINATION_NOT_FOUND}


# --- routers (must be async: a sync router breaks inside the workflow sandbox) --------------------


async def route_after_think(state: ResearchState) -> str:
    message = last_ai(state)
    if message is None or state.get("forced"):
        return "synthesize"
    if tongyi.extract_answer(str(message.content)) is not None:
        return "synthesize"
    if (message.tool_calls or message.invalid_tool_calls) and not control().get("cancel"):
        return "act"
    return "refine"


async def route_after_act(state: ResearchState) -> list[Send] | str:
    tasks = state.get("pending") or []
    return [Send(task["tool"], task) for task in tasks] or "refine"


async def route_after_collect(state: ResearchState) -> list[Send] | str:
    if control().get("cancel"):
        return "refine"  # a cancelled session spends no more model calls on extraction
    pages = [p for p in state.get("pages") or [] if p.get("blob")]
    return [Send("extract", page) for page in pages] or "refine"


async def route_after_refine(state: ResearchState) -> str:
    if state.get("termination"):
        return "synthesize"
    if control().get("checkpoint"):
        return END  # the workflow continues as new from this state
    return "think"


def make_react_graph(
    *, think: NodeSpec, extract: NodeSpec, tools: dict[str, NodeSpec]
) -> StateGraph:
    """Build (not compile) the research graph; `tools` maps node names (search, scholar, fetch)
    to their I/O nodes. Tools left out answer the model with an 'not available' observation."""
    unknown = set(tools) - {node for node, _, _ in FANOUT_TOOLS.values()}
    if unknown:
        raise ValueError(f"Unknown tool nodes {sorted(unknown)}; valid: search, scholar, fetch")
    workflow_node = {"execute_in": "workflow"}
    graph = StateGraph(ResearchState)
    graph.add_node("think", think.func, metadata=think.metadata)
    graph.add_node("act", make_act(set(tools)), metadata=workflow_node)
    graph.add_node("collect", collect, metadata=workflow_node)
    graph.add_node("extract", extract.func, metadata=extract.metadata)
    graph.add_node("refine", refine, metadata=workflow_node)
    graph.add_node("synthesize", synthesize, metadata=workflow_node)
    for name, spec in tools.items():
        graph.add_node(name, spec.func, metadata=spec.metadata)
        graph.add_edge(name, "collect")
    graph.add_edge(START, "think")
    graph.add_conditional_edges("think", route_after_think, ["act", "refine", "synthesize"])
    graph.add_conditional_edges("act", route_after_act, [*tools, "refine"])
    graph.add_conditional_edges("collect", route_after_collect, ["extract", "refine"])
    graph.add_edge("extract", "refine")
    graph.add_conditional_edges("refine", route_after_refine, ["think", "synthesize", END])
    graph.add_edge("synthesize", END)
    return graph
