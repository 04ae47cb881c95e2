"""The ReAct research graph: START -> think -> (act -> tools -> refine -> think)* -> synthesize.

Pure and deterministic: the I/O nodes (think, search, scholar, fetch, extract, read) are handed
in by the composition root with their Temporal activity options as node metadata.
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
from graphs.budget import (
    PAGE_NODES,
    SEARCH_NODES,
    TENANT_HOLD,
    Budget,
    affordable,
    bound_reached,
    spent,
)
from graphs.protocol import answer_of, dialect_of, tongyi
from graphs.state import Control, ResearchLimits, ResearchState, ToolTask

# Re-exported: the token estimate lived here (activities/files.py imports it from here).
from graphs.tokens import estimate_tokens, truncate_tokens  # noqa: F401

# The tool nodes a replay evaluation answers from its tape (the web; not the sandbox or files).
TAPED = frozenset({"search", "scholar", "read"})


@dataclass(frozen=True)
class ToolRoute:
    """How a tool call becomes graph work: its node, the argument whose items become one task
    each (None: the call is one task), and the text for malformed arguments."""

    node: str
    invalid: str
    fanout: str | None = None
    strip: bool = False  # the tool response is .strip()ped, as the reference's visit does


# Tool names as the model calls them (the reference's) -> their route.
TOOL_ROUTES: dict[str, ToolRoute] = {
    "search": ToolRoute("search", prompts.SEARCH_INVALID_REQUEST, fanout="query"),
    "google_scholar": ToolRoute("scholar", prompts.SCHOLAR_INVALID_REQUEST, fanout="query"),
    "visit": ToolRoute("fetch", prompts.VISIT_INVALID_REQUEST, fanout="url", strip=True),
    "PythonInterpreter": ToolRoute("python", prompts.PYTHON_FORMAT_ERROR),
    "parse_file": ToolRoute("parse_file", prompts.PARSE_FILE_INVALID_REQUEST),
}
TOOL_NODES = frozenset(route.node for route in TOOL_ROUTES.values())
# A node -> the tool name the model called it by (`read` is a visit fetched and extracted at once).
TOOL_NAMES = {route.node: name for name, route in TOOL_ROUTES.items()} | {"read": "visit"}
UNAVAILABLE_TOOL = "Error: Tool {name} is not available in this deployment."
# The tool nodes that consult the research cache (`fetch`, of sessions older than it, does not).
CACHED_NODES = frozenset({"search", "scholar", "read"})


@dataclass(frozen=True)
class NodeSpec:
    """An I/O node function plus its plugin metadata (execute_in, timeouts, retry policy)."""

    func: Callable[..., Any]
    metadata: dict[str, Any] = field(default_factory=dict)


def last_ai(state: ResearchState) -> AIMessage | None:
    messages = state.get("messages") or []
    return messages[-1] if messages and isinstance(messages[-1], AIMessage) else None


def _fanout_values(value: Any) -> list[str] | None:
    if isinstance(value, str) and value.strip():
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return list(value)
    return None


def _single_task(route: ToolRoute, args: dict[str, Any], files: dict[str, str]) -> ToolTask | None:
    """The task of a tool that is not fanned out, or None when its arguments are malformed."""
    if route.node == "python":
        code = args.get("code")
        return {"code": code} if isinstance(code, str) and code.strip() else None
    if route.node == "parse_file":
        names = _fanout_values(args.get("files"))
        if names is None:
            return None
        uploaded = {name: files[name] for name in names if name in files}
        return {"files": uploaded, "missing": [name for name in names if name not in files]}
    return None


def plan_tool_tasks(
    message: AIMessage,
    available: set[str],
    limits: ResearchLimits,
    files: dict[str, str] | None = None,
) -> tuple[list[ToolTask], list[dict[str, Any]]]:
    """Split the turn's tool calls into tasks (one per query/URL of a fan-out tool) and
    immediate observations (errors). `files` maps uploaded file names to blob digests."""
    tasks: list[ToolTask] = []
    observations: list[dict[str, Any]] = []
    for bad in message.invalid_tool_calls:
        observations.append({"call_id": bad["id"], "index": 0, "text": bad["error"] or ""})
    for call in message.tool_calls:
        call_id, name, args = call["id"] or "", call["name"], call["args"]
        route = TOOL_ROUTES.get(name)
        if route is None or route.node not in available:
            template = prompts.TOOL_NOT_FOUND if route is None else UNAVAILABLE_TOOL
            observations.append(
                {"call_id": call_id, "index": 0, "text": template.format(name=name)}
            )
            continue
        if route.fanout is None:
            single = _single_task(route, args, files or {})
            if single is None:
                observations.append({"call_id": call_id, "index": 0, "text": route.invalid})
            else:
                tasks.append({**single, "call_id": call_id, "index": 0, "tool": route.node})
            continue
        values = _fanout_values(args.get(route.fanout))
        goal = args.get("goal")
        if values is None or (route.node == "fetch" and not isinstance(goal, str)):
            observations.append({"call_id": call_id, "index": 0, "text": route.invalid})
            continue
        cap = limits.max_tool_calls_per_step
        for index, value in enumerate(values):
            if index >= cap:
                text = f"[{name}] Skipped {value!r}: more than {cap} items in one call."
                observations.append({"call_id": call_id, "index": index, "text": text})
                continue
            task: ToolTask = {"call_id": call_id, "index": index, "tool": route.node}
            task[route.fanout] = value  # type: ignore[literal-required]
            if route.node == "fetch":
                task["goal"] = goal
            tasks.append(task)
    return tasks, observations


# --- workflow-side nodes (pure) ----------------------------------------------------------------


def make_act(available: set[str], reads: bool = False) -> Callable[[ResearchState], dict[str, Any]]:
    """`act` plans the fan-out; the set of tool nodes present is fixed when the graph is built.
    With a `read` node (`reads`), a session whose state says `read_in_one` sends each page of a
    visit there instead of to `fetch` then `extract`."""

    async def act(state: ResearchState) -> dict[str, Any]:
        message = last_ai(state)
        assert message is not None
        limits = ResearchLimits(**state.get("limits", {}))
        tasks, observations = plan_tool_tasks(message, available, limits, state.get("files"))
        if reads and state.get("read_in_one"):
            tasks = [{**t, "tool": "read"} if t["tool"] == "fetch" else t for t in tasks]
            known = state.get("known_pages") or {}
            if known:  # a follow-up: a page the earlier session read is read from its blob
                tasks = [
                    {**t, "blob": known[t["url"]]} if t.get("url") in known else t for t in tasks
                ]
        tape = state.get("tape")
        if tape:  # a replay evaluation: the web's tools answer from the earlier run's record
            tasks = [{**t, "tape": tape} if t["tool"] in TAPED else t for t in tasks]
        use = state.get("cache")
        if use:  # sessions started with the research cache tell its tools whose they are
            tasks = [{**t, "cache": use} if t["tool"] in CACHED_NODES else t for t in tasks]
        update: dict[str, Any] = {"resume_at": None} if state.get("resume_at") else {}
        planned = tasks
        operator = control()
        if planned and operator.get("hold") and not operator.get("cancel"):
            # the tenant's day or month budget is spent: nothing is sent until it is not
            return {"pending": [], "awaiting_budget": TENANT_HOLD, "resume_at": "act"}
        tasks, skipped = within_budget(state, tasks)
        if skipped and state.get("on_budget") == "pause" and not operator.get("cancel"):
            # wait for a top-up that covers all of this turn's calls; the turn resumes here
            need = {
                "searches": sum(1 for t in planned if t["tool"] in SEARCH_NODES),
                "pages": sum(1 for t in planned if t["tool"] in PAGE_NODES),
            }
            return {
                "pending": [],
                "awaiting_budget": skipped[0]["reason"],
                "budget_need": need,
                "resume_at": "act",
            }
        searches = sum(1 for t in tasks if t["tool"] in SEARCH_NODES)
        pages = sum(1 for t in tasks if t["tool"] in PAGE_NODES)
        return {
            **update,
            "pending": tasks,
            "observations": observations
            + [{k: o[k] for k in ("call_id", "index", "text")} for o in skipped],  # fmt: skip
            "tool_calls": state.get("tool_calls", 0) + len(tasks),
            "searches": state.get("searches", 0) + searches,
            "pages_read": state.get("pages_read", 0) + pages,
        }

    return act


def budget_of(state: ResearchState) -> Budget:
    """The session's budget now: as raised by a top-up while it runs (the workflow's control),
    else as it started."""
    live = control().get("budget")
    return Budget(**(live if live is not None else state.get("budget") or {}))


def within_budget(
    state: ResearchState, tasks: list[ToolTask]
) -> tuple[list[ToolTask], list[dict[str, Any]]]:
    """The tasks the budget's search and page bounds allow, in the model's order, and an
    observation (with the bound's `reason`) for each task past them."""
    budget = budget_of(state)
    if not budget.bounded():
        return tasks, []
    used = spent(state)  # type: ignore[arg-type]
    left = {node: affordable(budget, used, node) for node in SEARCH_NODES | PAGE_NODES}
    kept: list[ToolTask] = []
    skipped: list[dict[str, Any]] = []
    for task in tasks:
        node = task["tool"]
        room = left.get(node)
        if room is None or room > 0:
            kept.append(task)
            if room is not None:  # the nodes of one bound share it
                for other in SEARCH_NODES if node in SEARCH_NODES else PAGE_NODES:
                    left[other] = room - 1
            continue
        what = "searches" if node in SEARCH_NODES else "pages"
        value = task.get("query") or task.get("url") or ""
        text = prompts.BUDGET_SKIPPED.format(
            name=TOOL_NAMES[node], value=value, bound=getattr(budget, what), what=what
        )
        skipped.append(
            {"call_id": task["call_id"], "index": task["index"], "text": text, "reason": what}
        )
    return kept, skipped


async def collect(state: ResearchState) -> dict[str, Any]:
    """Join point after fetches/searches; extraction of fetched pages starts from here."""
    return {}


def tool_response(observations: list[dict[str, Any]], strip: bool = False) -> str:
    """Join one call's observations in fan-out order, as the reference joins multi-query results
    (`strip`: then strip the whole, as its visit tool does: inner pages keep their closing blank
    line, the last one loses it)."""
    ordered = sorted(observations, key=lambda o: o["index"])
    text = prompts.OBSERVATION_SEPARATOR.join(o["text"] for o in ordered)
    return text.strip() if strip else text


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
        calls = [(c["id"], c["name"]) for c in message.tool_calls] + [
            (c["id"], c["name"]) for c in message.invalid_tool_calls
        ]
        for call_id, name in calls:
            observations = by_call.get(call_id or "", [])
            route = TOOL_ROUTES.get(name or "")
            if observations or not cancel:
                text = tool_response(observations, strip=route is not None and route.strip)
            else:
                text = prompts.CANCELLED_TOOL
            new.append(ToolMessage(content=text, tool_call_id=call_id, id=f"tool-{call_id}"))
    context = state.get("context_tokens", 0) + sum(estimate_tokens(str(m.content)) for m in new)
    exhausted = state.get("llm_calls", 0) >= limits.max_llm_calls
    forced = context > limits.max_context_tokens
    budget = budget_of(state)
    spent_on = exhausted_budget(budget, state) if not cancel and not exhausted else None
    pause = spent_on is not None and state.get("on_budget") == "pause"
    if pause and spent_on in ("searches", "pages"):
        spent_on = None  # the next turn may answer without one; `act` pauses if it needs one
        pause = False
    if spent_on is not None and not pause:
        forced = True  # the reference's forced answer, as for its context limit
    notice = prompts.FORCED_ANSWER_PROMPT if forced else None
    notice = notice or (prompts.LLM_CALL_LIMIT_MESSAGE if exhausted else None)
    if notice is not None:
        new = with_notice(state, new, notice)
    update: dict[str, Any] = {
        "observations": None,
        "pages": None,
        "pending": [],
        "context_tokens": context,
    }
    if state.get("resume_at"):
        update["resume_at"] = None
    if budget.bounded():
        update["budget"] = budget.model_dump()  # a top-up is kept in the state it resumes from
    held = bool(operator.get("hold")) and not (cancel or exhausted or forced)
    if pause or held:  # the session's own bound, or its tenant's day or month one
        update |= {"awaiting_budget": spent_on if pause else TENANT_HOLD, "resume_at": "think"}
    elif spent_on is not None:
        update["budget_spent"] = spent_on
    steered = state.get("steered", 0)
    notes = (operator.get("steer") or [])[steered:]
    if notes and not forced and not exhausted:
        for offset, note in enumerate(notes):
            text = prompts.STEER_NOTE.format(note=note)
            new.append(HumanMessage(content=text, id=f"steer-{steered + offset}"))
        update["steered"] = steered + len(notes)
    if cancel and not forced and not exhausted:
        stop = cancel_update(cancel)
        new.extend(stop["messages"])
        forced = True
        update["cancelled"] = cancel
    update |= {"messages": new, "forced": forced}
    if not forced and exhausted:
        update |= {"answer": prompts.NO_ANSWER_FOUND, "termination": prompts.TERMINATION_LLM_LIMIT}
    elif not forced and state.get("clock", 0.0) >= state.get("deadline", math.inf):
        text = wall_clock_text(limits.wall_clock_seconds)
        update |= {"answer": text, "termination": text}
    return update


def exhausted_budget(budget: Budget, state: ResearchState) -> str | None:
    return bound_reached(budget, spent(state)) if budget.bounded() else None  # type: ignore[arg-type]


def cancel_update(reason: str) -> dict[str, Any]:
    """What an operator's cancel adds before the best-answer call: the cancel prompt, and the
    state that makes that call the last (`forced`) and the session's end `cancelled`."""
    return {
        "messages": [HumanMessage(content=prompts.CANCEL_PROMPT, id="cancel")],
        "forced": True,
        "cancelled": reason,
    }


def with_notice(state: ResearchState, new: list[AnyMessage], notice: str) -> list[AnyMessage]:
    """Tell the model a limit was hit. The reference overwrites the last message (the tool
    response, else the model's own turn) and the Tongyi model was trained on that; a native
    tool-calling API needs every tool call answered, so the openai dialect appends instead."""
    if not dialect_of(state).overwrites_last:
        return [*new, HumanMessage(content=notice, id=f"notice-{state.get('llm_calls', 0)}")]
    last = new[-1] if new else (state.get("messages") or [None])[-1]
    if last is None:
        return new
    return [*new[:-1], tongyi.replace_content(last, notice)]


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
    answer = answer_of(message) if message is not None else None
    if state.get("cancelled"):
        termination = prompts.TERMINATION_CANCELLED
        return {"answer": content if answer is None else answer, "termination": termination}
    if state.get("forced") and state.get("budget_spent"):
        return {"answer": content if answer is None else answer,
                "termination": prompts.TERMINATION_BUDGET}  # fmt: skip
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
    if answer_of(message) is not None:
        return "synthesize"
    if (message.tool_calls or message.invalid_tool_calls) and not control().get("cancel"):
        return "act"
    return "refine"


async def route_after_act(state: ResearchState) -> list[Send] | str:
    if state.get("awaiting_budget"):
        return END  # the workflow waits for a top-up, then plans this turn's calls again
    tasks = state.get("pending") or []
    return [Send(task["tool"], task) for task in tasks] or "refine"


async def route_start(state: ResearchState) -> str:
    """Where a run enters: the next model turn, or (after a budget pause) the node it paused
    in (`act`: the turn's calls were not sent; `refine`: a cancel ends it from there)."""
    return state.get("resume_at") or "think"


async def route_after_collect(state: ResearchState) -> list[Send] | str:
    if control().get("cancel"):
        return "refine"  # a cancelled session spends no more model calls on extraction
    pages = [p for p in state.get("pages") or [] if p.get("blob")]
    return [Send("extract", page) for page in pages] or "refine"


async def route_after_refine(state: ResearchState) -> str:
    if state.get("termination"):
        return "synthesize"
    if state.get("awaiting_budget"):
        return END  # the workflow waits for a top-up, then goes on from the next turn
    if control().get("checkpoint"):
        return END  # the workflow continues as new from this state
    return "think"


def make_react_graph(
    *,
    think: NodeSpec,
    extract: NodeSpec,
    tools: dict[str, NodeSpec],
    read: NodeSpec | None = None,
) -> StateGraph:
    """Build (not compile) the research graph; `tools` maps node names (search, scholar, fetch,
    python, parse_file) to their I/O nodes. Tools left out answer the model with a 'not
    available' observation. `read` (with `fetch`): a page fetched and extracted in one node,
    for the sessions whose state says `read_in_one`."""
    unknown = set(tools) - TOOL_NODES
    if unknown:
        raise ValueError(f"Unknown tool nodes {sorted(unknown)}; valid: {sorted(TOOL_NODES)}")
    workflow_node = {"execute_in": "workflow"}
    graph = StateGraph(ResearchState)
    graph.add_node("think", think.func, metadata=think.metadata)
    reads = read is not None and "fetch" in tools
    graph.add_node("act", make_act(set(tools), reads), metadata=workflow_node)
    graph.add_node("collect", collect, metadata=workflow_node)
    graph.add_node("extract", extract.func, metadata=extract.metadata)
    graph.add_node("refine", refine, metadata=workflow_node)
    graph.add_node("synthesize", synthesize, metadata=workflow_node)
    nodes = dict(tools)
    if read is not None and reads:
        nodes["read"] = read
    for name, spec in nodes.items():
        graph.add_node(name, spec.func, metadata=spec.metadata)
        graph.add_edge(name, "collect")
    graph.add_conditional_edges(START, route_start, ["think", "act", "refine"])
    graph.add_conditional_edges("think", route_after_think, ["act", "refine", "synthesize"])
    graph.add_conditional_edges("act", route_after_act, [*nodes, "refine", END])
    graph.add_conditional_edges("collect", route_after_collect, ["extract", "refine"])
    graph.add_edge("extract", "refine")
    graph.add_conditional_edges("refine", route_after_refine, ["think", "synthesize", END])
    graph.add_edge("synthesize", END)
    return graph
