"""The research graph run by plain LangGraph (no Temporal) with scripted I/O nodes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from graphs import prompts
from graphs.protocol import tongyi
from graphs.react import (
    UNAVAILABLE_TOOL,
    NodeSpec,
    estimate_tokens,
    make_react_graph,
    plan_tool_tasks,
    tool_response,
    wall_clock_text,
)
from graphs.state import ResearchLimits, ResearchState, Sampling, to_messages

QUESTION = "Who wrote the fake paper?"
TODAY = "2025-03-04"
START_TIME = 1_750_000_000.0


# --- test doubles for the I/O nodes ---------------------------------------------------------------


@dataclass
class Turn:
    """One scripted model reply; `context_tokens`/`clock` override what the fake reports."""

    text: str
    context_tokens: int | None = None
    clock: float | None = None


@dataclass
class Ports:
    """Scripted think plus fake search/scholar/fetch/extract nodes, recording what they see."""

    script: list[Turn | str]
    prompts_seen: list[list[dict[str, str]]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)

    async def think(self, state: dict[str, Any]) -> dict[str, Any]:
        """What `activities.llm.think` returns, the completion read from the script."""
        index = state.get("llm_calls", 0)
        assert index < len(self.script), f"think called {index + 1} times; script ran out"
        turn = self.script[index]
        if isinstance(turn, str):
            turn = Turn(turn)
        prompt = tongyi.render(to_messages(state["messages"]), state["today"])
        self.prompts_seen.append(prompt)
        self.events.append(("think", str(index + 1)))
        prompt_tokens = sum(estimate_tokens(m["content"]) for m in prompt)
        completion_tokens = estimate_tokens(turn.text)
        return {
            "messages": [tongyi.parse(turn.text, index + 1)],
            "llm_calls": index + 1,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "context_tokens": turn.context_tokens or prompt_tokens + completion_tokens,
            "clock": turn.clock if turn.clock is not None else state.get("clock", 0.0) + 1.0,
        }

    async def search(self, task: dict[str, Any]) -> dict[str, Any]:
        self.events.append(("search", task["query"]))
        text = f"results for {task['query']}"
        observation = {"call_id": task["call_id"], "index": task["index"], "text": text}
        return {"observations": [observation], "clock": START_TIME + 2}

    async def scholar(self, task: dict[str, Any]) -> dict[str, Any]:
        self.events.append(("scholar", task["query"]))
        text = f"papers on {task['query']}"
        observation = {"call_id": task["call_id"], "index": task["index"], "text": text}
        return {"observations": [observation], "clock": START_TIME + 2}

    async def fetch(self, task: dict[str, Any]) -> dict[str, Any]:
        url = task["url"]
        self.events.append(("fetch", url))
        if "broken" in url:  # the real fetch answers a failed read itself, without a page
            text = f"could not read {url}"
            observation = {"call_id": task["call_id"], "index": task["index"], "text": text}
            return {"observations": [observation], "clock": START_TIME + 2}
        blob = "sha256:" + hashlib.sha256(url.encode()).hexdigest()
        return {"pages": [{**task, "blob": blob}], "sources": [url], "clock": START_TIME + 2}

    async def extract(self, task: dict[str, Any]) -> dict[str, Any]:
        url = task["url"]
        self.events.append(("extract", url))
        assert task["blob"] == "sha256:" + hashlib.sha256(url.encode()).hexdigest()
        text = f"evidence from {url} for {task['goal']}"
        observation = {"call_id": task["call_id"], "index": task["index"], "text": text}
        return {"observations": [{**observation, "source": url}], "clock": START_TIME + 3}

    async def read(self, task: dict[str, Any]) -> dict[str, Any]:
        """`fetch` then `extract` in one node, as `activities.read.read` is."""
        url = task["url"]
        self.events.append(("read", url))
        if "broken" in url:
            text = f"could not read {url}"
            observation = {"call_id": task["call_id"], "index": task["index"], "text": text}
            return {"observations": [observation], "clock": START_TIME + 2}
        text = f"evidence from {url} for {task['goal']}"
        observation = {"call_id": task["call_id"], "index": task["index"], "text": text}
        update = {"observations": [{**observation, "source": url}], "clock": START_TIME + 3}
        return {**update, "sources": [url]}

    def calls(self, node: str) -> list[str]:
        return [value for name, value in self.events if name == node]


def initial_state(**limits: Any) -> ResearchState:
    """The state `workers.workflows.research.ResearchWorkflow.run` starts the graph with."""
    settings = ResearchLimits(**limits)
    return {
        "question": QUESTION,
        "today": TODAY,
        "deadline": START_TIME + settings.wall_clock_seconds,
        "clock": START_TIME,
        "limits": settings.model_dump(),
        "sampling": Sampling().model_dump(),
        "messages": [HumanMessage(content=QUESTION, id="question")],
        "llm_calls": 0,
        "tool_calls": 0,
    }


async def run(
    script: list[Turn | str],
    tools: tuple[str, ...] = ("search", "fetch"),
    ports_class: type[Ports] = Ports,
    read_in_one: bool = False,
    **limits: Any,
) -> tuple[dict[str, Any], Ports]:
    ports = ports_class(script)
    graph = make_react_graph(
        think=NodeSpec(ports.think, {"execute_in": "activity"}),
        extract=NodeSpec(ports.extract),
        tools={name: NodeSpec(getattr(ports, name)) for name in tools},
        read=NodeSpec(ports.read),
    )
    app = graph.compile()
    state = initial_state(**limits)
    if read_in_one:
        state["read_in_one"] = True
    final = await app.ainvoke(state, {"recursion_limit": 1000})
    return final, ports


def call(name: str, arguments: Any = None) -> str:
    body: dict[str, Any] = {"name": name}
    if arguments is not None:
        body["arguments"] = arguments
    return f"<think>next step</think>\n<tool_call>\n{json.dumps(body)}\n</tool_call>"


def answer(text: str) -> str:
    return f"<think>done</think>\n<answer>{text}</answer>"


def wrapped(text: str) -> str:
    return f"<tool_response>\n{text}\n</tool_response>"


# --- pure helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("abc", 1), ("abcd", 2), ("é", 1), ("中文", 2), ("x" * 300, 100), ("x" * 301, 101)],
)
def test_estimate_tokens_is_a_ceiling_of_utf8_bytes_over_three(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (150 * 60, "No answer found after 2h30mins"),
        (90, "No answer found after 1mins"),
        (59, "No answer found after 0mins"),
        (3600, "No answer found after 1h0mins"),
    ],
)
def test_wall_clock_text(seconds: float, text: str) -> None:
    assert wall_clock_text(seconds) == text


def test_default_wall_clock_text_is_the_reference_termination() -> None:
    seconds = ResearchLimits().wall_clock_seconds
    assert wall_clock_text(seconds) == prompts.TERMINATION_TIME_LIMIT


def test_tool_response_joins_in_index_order_not_arrival_order() -> None:
    observations = [
        {"call_id": "c", "index": 2, "text": "third"},
        {"call_id": "c", "index": 0, "text": "first"},
        {"call_id": "c", "index": 1, "text": "second"},
    ]
    assert tool_response(observations) == "first\n=======\nsecond\n=======\nthird"
    assert prompts.OBSERVATION_SEPARATOR == "\n=======\n"


def test_make_react_graph_rejects_an_unknown_tool_node() -> None:
    ports = Ports([])
    with pytest.raises(ValueError, match="shell"):
        make_react_graph(
            think=NodeSpec(ports.think),
            extract=NodeSpec(ports.extract),
            tools={"search": NodeSpec(ports.search), "shell": NodeSpec(ports.search)},
        )


def test_plan_tool_tasks_fans_out_and_reports_errors_in_one_pass() -> None:
    message = tongyi.parse(
        call("visit", {"url": ["https://a.example", "https://b.example"], "goal": "g"}), 3
    )
    tasks, observations = plan_tool_tasks(message, {"fetch"}, ResearchLimits())
    assert observations == []
    assert tasks == [
        {"call_id": "call-3", "index": 0, "tool": "fetch", "url": "https://a.example", "goal": "g"},
        {"call_id": "call-3", "index": 1, "tool": "fetch", "url": "https://b.example", "goal": "g"},
    ]


# --- the graph: answers and tool turns ------------------------------------------------------------


async def test_answer_on_first_turn() -> None:
    final, ports = await run([answer("Alice")])
    assert final["answer"] == "Alice"
    assert final["termination"] == prompts.TERMINATION_ANSWER
    assert final["llm_calls"] == 1
    assert final["tool_calls"] == 0
    assert ports.events == [("think", "1")]
    first_prompt = ports.prompts_seen[0]
    assert first_prompt == [
        {"role": "system", "content": prompts.SYSTEM_PROMPT + TODAY},
        {"role": "user", "content": QUESTION},
    ]


async def test_search_fans_out_one_execution_per_query_and_joins_in_order() -> None:
    script = [call("search", {"query": ["alpha", "beta", "gamma"]}), answer("Bob")]
    final, ports = await run(script)
    assert sorted(ports.calls("search")) == ["alpha", "beta", "gamma"]
    assert final["tool_calls"] == 3
    assert final["llm_calls"] == 2
    expected = "results for alpha\n=======\nresults for beta\n=======\nresults for gamma"
    second_prompt = ports.prompts_seen[1]
    assert second_prompt[-2] == {"role": "assistant", "content": tongyi.clean_completion(script[0])}
    assert second_prompt[-1] == {"role": "user", "content": wrapped(expected)}
    tool_message = final["messages"][-2]
    assert isinstance(tool_message, ToolMessage)
    assert tool_message.tool_call_id == "call-1"
    assert tool_message.id == "tool-call-1"
    assert final["answer"] == "Bob"
    assert final["termination"] == prompts.TERMINATION_ANSWER
    assert final["observations"] == []  # refine consumed them


async def test_search_with_a_single_query_string_runs_once() -> None:
    final, ports = await run([call("search", {"query": "solo"}), answer("x")])
    assert ports.calls("search") == ["solo"]
    assert ports.prompts_seen[1][-1]["content"] == wrapped("results for solo")
    assert final["tool_calls"] == 1


async def test_search_query_mentioning_python_runs_as_a_search() -> None:
    _, ports = await run([call("search", {"query": ["python tutorial"]}), answer("x")])
    assert ports.calls("search") == ["python tutorial"]
    assert ports.prompts_seen[1][-1]["content"] == wrapped("results for python tutorial")


async def test_visit_fetches_every_url_then_extracts_every_page() -> None:
    urls = ["https://a.example/1", "https://b.example/2"]
    script = [call("visit", {"url": urls, "goal": "find the author"}), answer("Carol")]
    final, ports = await run(script)
    order = [name for name, _ in ports.events]
    assert order == ["think", "fetch", "fetch", "extract", "extract", "think"]
    assert sorted(ports.calls("fetch")) == urls
    assert sorted(ports.calls("extract")) == urls
    assert final["sources"] == urls
    assert final["tool_calls"] == 2
    assert final["pages"] == []
    expected = prompts.OBSERVATION_SEPARATOR.join(
        f"evidence from {url} for find the author" for url in urls
    )
    assert ports.prompts_seen[1][-1]["content"] == wrapped(expected)
    assert final["answer"] == "Carol"


async def test_visit_in_a_session_that_reads_in_one_sends_each_url_to_read() -> None:
    urls = ["https://a.example/1", "https://broken.example/", "https://b.example/2"]
    script = [call("visit", {"url": urls, "goal": "g"}), answer("Carol")]
    final, ports = await run(script, read_in_one=True)
    order = [name for name, _ in ports.events]
    assert order == ["think", "read", "read", "read", "think"]
    assert sorted(ports.calls("read")) == sorted(urls)
    assert final["sources"] == ["https://a.example/1", "https://b.example/2"]
    assert final["tool_calls"] == 3 and final["pages"] == []
    # the same tool response as fetch-then-extract gives, in call order
    _, two_steps = await run(script)
    assert ports.prompts_seen[1][-1] == two_steps.prompts_seen[1][-1]
    assert ports.prompts_seen[1][-1]["content"] == wrapped(
        prompts.OBSERVATION_SEPARATOR.join(
            [
                "evidence from https://a.example/1 for g",
                "could not read https://broken.example/",
                "evidence from https://b.example/2 for g",
            ]
        )
    )


async def test_visit_with_a_failed_read_extracts_only_the_pages_read() -> None:
    urls = ["https://broken.example/", "https://ok.example/"]
    final, ports = await run([call("visit", {"url": urls, "goal": "g"}), answer("x")])
    assert sorted(ports.calls("fetch")) == urls
    assert ports.calls("extract") == ["https://ok.example/"]
    assert final["sources"] == ["https://ok.example/"]
    expected = (
        "could not read https://broken.example/\n=======\nevidence from https://ok.example/ for g"
    )
    assert ports.prompts_seen[1][-1]["content"] == wrapped(expected)


async def test_sources_accumulate_once_across_turns() -> None:
    script = [
        call("visit", {"url": ["https://a.example"], "goal": "g"}),
        call("visit", {"url": ["https://b.example", "https://a.example"], "goal": "g"}),
        answer("x"),
    ]
    final, _ = await run(script)
    assert final["sources"] == ["https://a.example", "https://b.example"]
    assert final["tool_calls"] == 3


async def test_scholar_node_runs_google_scholar_queries() -> None:
    script = [call("google_scholar", {"query": ["transformers"]}), answer("x")]
    final, ports = await run(script, tools=("search", "scholar", "fetch"))
    assert ports.calls("scholar") == ["transformers"]
    assert ports.prompts_seen[1][-1]["content"] == wrapped("papers on transformers")
    assert final["tool_calls"] == 1


async def test_tokens_are_summed_across_turns() -> None:
    final, ports = await run([call("search", {"query": ["q"]}), answer("x")])
    prompt_tokens = sum(
        sum(estimate_tokens(m["content"]) for m in prompt) for prompt in ports.prompts_seen
    )
    assert final["prompt_tokens"] == prompt_tokens
    completions = [call("search", {"query": ["q"]}), answer("x")]
    assert final["completion_tokens"] == sum(estimate_tokens(t) for t in completions)


# --- the graph: errors answered as observations ---------------------------------------------------


async def error_seen(completion: str, tools: tuple[str, ...] = ("search", "fetch")) -> str:
    """Run one bad turn then an answer; return what the second think saw as the tool response."""
    final, ports = await run([completion, answer("x")], tools=tools)
    assert len(ports.prompts_seen) == 2
    assert [name for name, _ in ports.events] == ["think", "think"]  # no tool node ran
    assert final["tool_calls"] == 0
    assert final["termination"] == prompts.TERMINATION_ANSWER
    last = ports.prompts_seen[1][-1]
    assert last["role"] == "user"
    return last["content"]


async def test_malformed_tool_call_is_answered_with_the_json_error() -> None:
    seen = await error_seen('<think>t</think>\n<tool_call>\n{"name": "search", \n</tool_call>')
    assert seen == wrapped(prompts.INVALID_TOOL_CALL_JSON)


async def test_unknown_tool_is_answered_not_found() -> None:
    seen = await error_seen(call("telepathy", {"query": ["q"]}))
    assert seen == wrapped("Error: Tool telepathy not found")
    assert seen == wrapped(prompts.TOOL_NOT_FOUND.format(name="telepathy"))


async def test_python_interpreter_without_a_python_node_is_not_available() -> None:
    completion = (
        '<think>t</think>\n<tool_call>\n{"name": "PythonInterpreter", "arguments": {}}\n'
        "<code>\nprint(2)\n</code>\n</tool_call>"
    )
    seen = await error_seen(completion)
    assert seen == wrapped(UNAVAILABLE_TOOL.format(name="PythonInterpreter"))
    assert "not available" in seen


async def test_python_interpreter_without_code_is_a_format_error() -> None:
    completion = '<tool_call>\n{"name": "PythonInterpreter", "arguments": {}}\n</tool_call>'
    assert await error_seen(completion) == wrapped(prompts.PYTHON_FORMAT_ERROR)


async def test_tool_missing_from_the_deployment_is_not_available() -> None:
    seen = await error_seen(call("google_scholar", {"query": ["q"]}))
    assert seen == wrapped(UNAVAILABLE_TOOL.format(name="google_scholar"))


async def test_parse_file_is_a_known_tool_but_not_available() -> None:
    seen = await error_seen(call("parse_file", {"files": ["a.pdf"]}))
    assert seen == wrapped(UNAVAILABLE_TOOL.format(name="parse_file"))


@pytest.mark.parametrize(
    "arguments", [{}, {"query": []}, {"query": ""}, {"query": ["ok", " "]}, {"q": "x"}]
)
async def test_search_without_a_usable_query_is_an_invalid_request(arguments: dict) -> None:
    seen = await error_seen(call("search", arguments))
    assert seen == wrapped(prompts.SEARCH_INVALID_REQUEST)


@pytest.mark.parametrize(
    "arguments",
    [
        {"url": ["https://a.example"]},
        {"goal": "g"},
        {"url": [], "goal": "g"},
        {"url": "https://a.example", "goal": 3},
    ],
)
async def test_visit_without_url_or_goal_is_an_invalid_request(arguments: dict) -> None:
    seen = await error_seen(call("visit", arguments))
    assert seen == wrapped(prompts.VISIT_INVALID_REQUEST)


async def test_fanout_cap_skips_items_beyond_max_tool_calls_per_step() -> None:
    script = [call("search", {"query": ["a", "b", "c", "d"]}), answer("x")]
    final, ports = await run(script, max_tool_calls_per_step=2)
    assert sorted(ports.calls("search")) == ["a", "b"]
    assert final["tool_calls"] == 2
    expected = prompts.OBSERVATION_SEPARATOR.join(
        [
            "results for a",
            "results for b",
            "[search] Skipped 'c': more than 2 items in one call.",
            "[search] Skipped 'd': more than 2 items in one call.",
        ]
    )
    assert ports.prompts_seen[1][-1]["content"] == wrapped(expected)


async def test_turn_without_call_or_answer_loops_back_to_think() -> None:
    musing = "<think>I should think more</think>\nLet me consider."
    final, ports = await run([musing, answer("Dana")])
    assert [name for name, _ in ports.events] == ["think", "think"]
    second_prompt = ports.prompts_seen[1]
    assert second_prompt[-1] == {"role": "assistant", "content": musing}
    assert len(second_prompt) == 3  # system, question, the musing: nothing appended after it
    assert final["answer"] == "Dana"
    assert final["llm_calls"] == 2


async def test_unclosed_tool_call_loops_back_to_think_without_a_tool_response() -> None:
    unclosed = '<think>t</think>\n<tool_call>\n{"name": "search", "arguments": {"query": ["q"]}}'
    final, ports = await run([unclosed, answer("x")])
    assert ports.calls("search") == []
    assert ports.prompts_seen[1][-1] == {"role": "assistant", "content": unclosed}
    assert final["termination"] == prompts.TERMINATION_ANSWER


# --- the graph: limits ----------------------------------------------------------------------------


async def test_llm_call_limit_ends_without_an_answer() -> None:
    script = [call("search", {"query": [f"q{i}"]}) for i in range(10)]
    final, ports = await run(script, max_llm_calls=3)
    assert len(ports.prompts_seen) == 3
    assert final["llm_calls"] == 3
    assert ports.calls("search") == ["q0", "q1", "q2"]  # the last turn's tool still runs
    assert final["answer"] == prompts.NO_ANSWER_FOUND == "No answer found."
    assert final["termination"] == prompts.TERMINATION_LLM_LIMIT == "exceed available llm calls"
    last = final["messages"][-1]  # the reference overwrites the last tool response
    assert isinstance(last, HumanMessage)
    assert last.content == prompts.LLM_CALL_LIMIT_MESSAGE
    assert last.id == "tool-call-3"


async def test_llm_call_limit_on_a_turn_without_a_call_overwrites_that_turn() -> None:
    final, ports = await run(["<think>hm</think>", "<think>hm</think>"], max_llm_calls=2)
    assert len(ports.prompts_seen) == 2
    assert final["termination"] == prompts.TERMINATION_LLM_LIMIT
    last = final["messages"][-1]
    assert isinstance(last, AIMessage)
    assert last.id == "ai-2"
    assert last.content == prompts.LLM_CALL_LIMIT_MESSAGE


async def test_answer_on_the_last_allowed_call_is_still_an_answer() -> None:
    final, _ = await run([call("search", {"query": ["q"]}), answer("late")], max_llm_calls=2)
    assert final["answer"] == "late"
    assert final["termination"] == prompts.TERMINATION_ANSWER


LIMIT = 1024  # the smallest max_context_tokens ResearchLimits allows


async def test_context_limit_forces_one_last_answer() -> None:
    script = [Turn(call("search", {"query": ["q"]}), context_tokens=LIMIT + 1), answer("forced")]
    final, ports = await run(script, max_context_tokens=LIMIT)
    assert len(ports.prompts_seen) == 2
    forced_prompt = ports.prompts_seen[1]
    assert forced_prompt[-1] == {"role": "user", "content": prompts.FORCED_ANSWER_PROMPT}
    assert forced_prompt[-2]["role"] == "assistant"
    assert final["forced"] is True
    assert final["answer"] == "forced"
    assert final["termination"] == prompts.TERMINATION_TOKEN_LIMIT
    assert final["termination"] == "generate an answer as token limit reached"


async def test_forced_reply_without_an_answer_is_a_format_error() -> None:
    forced_reply = call("search", {"query": ["more"]})
    script = [Turn(call("search", {"query": ["q"]}), context_tokens=LIMIT + 1), forced_reply]
    final, ports = await run(script, max_context_tokens=LIMIT)
    assert len(ports.prompts_seen) == 2
    assert ports.calls("search") == ["q"]  # the forced turn's tool call is not run
    assert final["answer"] == tongyi.clean_completion(forced_reply)  # the whole reply
    assert final["termination"] == prompts.TERMINATION_TOKEN_LIMIT_FORMAT_ERROR
    assert final["termination"] == "format error: generate an answer as token limit reached"


async def test_tool_response_size_counts_towards_the_context_limit() -> None:
    # The model's count covers its prompt and completion; the new tool response is estimated.
    query = "q" * 300  # "results for qqq..." is about 104 estimated tokens
    under = [Turn(call("search", {"query": [query]}), context_tokens=LIMIT - 200), answer("x")]
    final, _ = await run(under, max_context_tokens=LIMIT)
    assert final["termination"] == prompts.TERMINATION_ANSWER
    over = [Turn(call("search", {"query": [query]}), context_tokens=LIMIT - 50), answer("x")]
    final, ports = await run(over, max_context_tokens=LIMIT)
    assert final["termination"] == prompts.TERMINATION_TOKEN_LIMIT
    assert ports.prompts_seen[1][-1]["content"] == prompts.FORCED_ANSWER_PROMPT


async def test_context_limit_on_the_last_allowed_call_still_forces_one_more_call() -> None:
    # As the reference: the call-limit overwrite is itself overwritten by the forced prompt,
    # and the forced call is made even though it exceeds max_llm_calls.
    script = [Turn(call("search", {"query": ["q"]}), context_tokens=LIMIT + 1), answer("over")]
    final, ports = await run(script, max_llm_calls=1, max_context_tokens=LIMIT)
    assert len(ports.prompts_seen) == 2
    assert ports.prompts_seen[1][-1]["content"] == prompts.FORCED_ANSWER_PROMPT
    assert final["llm_calls"] == 2
    assert final["answer"] == "over"
    assert final["termination"] == prompts.TERMINATION_TOKEN_LIMIT


async def test_deadline_passed_ends_with_the_reference_time_limit_text() -> None:
    deadline = START_TIME + ResearchLimits().wall_clock_seconds
    script = [Turn(call("search", {"query": ["q"]}), clock=deadline), answer("too late")]
    final, ports = await run(script)
    assert len(ports.prompts_seen) == 1
    assert final["answer"] == "No answer found after 2h30mins"
    assert final["termination"] == prompts.TERMINATION_TIME_LIMIT


async def test_deadline_text_follows_the_configured_budget() -> None:
    script = [Turn("<think>slow</think>", clock=START_TIME + 95), answer("too late")]
    final, ports = await run(script, wall_clock_seconds=90)
    assert len(ports.prompts_seen) == 1
    assert final["answer"] == final["termination"] == "No answer found after 1mins"


async def test_clock_before_the_deadline_keeps_going() -> None:
    script = [Turn(call("search", {"query": ["q"]}), clock=START_TIME + 89), answer("in time")]
    final, _ = await run(script, wall_clock_seconds=90)
    assert final["answer"] == "in time"
    assert final["termination"] == prompts.TERMINATION_ANSWER


# --- regressions (bugs found and fixed) ----------------------------------------


async def test_empty_answer_ends_the_session() -> None:
    final, ports = await run(["<think>nothing to say</think>\n<answer></answer>", answer("second")])
    assert len(ports.prompts_seen) == 1
    assert final["answer"] == ""
    assert final["termination"] == prompts.TERMINATION_ANSWER


# --- operator controls (runtime context written by the workflow's signal handlers) -------------


class CancelDuringTurn(Ports):
    """Sets the cancel flag while turn `at` is being generated, as a signal would."""

    def __init__(self, script: list[Turn | str], operator: dict[str, Any], at: int) -> None:
        super().__init__(script)
        self.operator = operator
        self.at = at

    async def think(self, state: dict[str, Any]) -> dict[str, Any]:
        if state.get("llm_calls", 0) + 1 == self.at:
            self.operator["cancel"] = "enough"
        return await super().think(state)


async def run_with(ports: Ports, operator: dict[str, Any]) -> dict[str, Any]:
    graph = make_react_graph(
        think=NodeSpec(ports.think),
        extract=NodeSpec(ports.extract),
        tools={"search": NodeSpec(ports.search), "fetch": NodeSpec(ports.fetch)},
    )
    app = graph.compile()
    return await app.ainvoke(initial_state(), {"recursion_limit": 1000}, context=operator)


async def test_cancel_during_a_turn_skips_its_tools_and_asks_for_the_answer() -> None:
    operator: dict[str, Any] = {"cancel": None, "steer": []}
    ports = CancelDuringTurn(
        [call("search", {"query": ["a"]}), call("search", {"query": ["b"]}), answer("best")],
        operator,
        at=2,
    )
    final = await run_with(ports, operator)
    assert final["termination"] == prompts.TERMINATION_CANCELLED
    assert final["answer"] == "best"
    assert ("search", "b") not in ports.events  # turn 2's call never ran
    last_prompt = ports.prompts_seen[-1]
    assert (
        last_prompt[-2]["content"] == f"<tool_response>\n{prompts.CANCELLED_TOOL}\n</tool_response>"
    )
    assert last_prompt[-1]["content"] == prompts.CANCEL_PROMPT


async def test_cancel_reply_without_answer_tags_is_the_answer() -> None:
    operator: dict[str, Any] = {"cancel": None, "steer": []}
    ports = CancelDuringTurn([call("search", {"query": ["a"]}), "just text"], operator, at=1)
    final = await run_with(ports, operator)
    assert final["termination"] == prompts.TERMINATION_CANCELLED
    assert final["answer"] == "just text"
    assert ("search", "a") not in ports.events


async def test_steer_notes_are_delivered_once_in_order() -> None:
    operator: dict[str, Any] = {"cancel": None, "steer": ["look at ACM", "prefer 2025 sources"]}
    ports = Ports([call("search", {"query": ["a"]}), call("search", {"query": ["b"]}), answer("x")])
    await run_with(ports, operator)
    second, third = ports.prompts_seen[1], ports.prompts_seen[2]
    assert [m["content"] for m in second[-2:]] == [
        prompts.STEER_NOTE.format(note="look at ACM"),
        prompts.STEER_NOTE.format(note="prefer 2025 sources"),
    ]
    notes = [m for m in third if m["content"].startswith("Note from the operator")]
    assert len(notes) == 2  # not delivered again


# --- the visit observation, as the reference's Visit.call returns it ------------------------------


def _visit_text(url: str, goal: str, evidence: str, summary: str) -> str:
    return prompts.VISIT_RESULT.format(url=url, goal=goal, evidence=evidence, summary=summary)


def _visit_failure(url: str, goal: str) -> str:
    evidence, summary = prompts.VISIT_FAILED_EVIDENCE, prompts.VISIT_FAILED_SUMMARY
    return _visit_text(url, goal, evidence, summary)


class VisitPorts(Ports):
    """fetch/extract answering in the visit tool's own format (each page ends with "\n\n")."""

    async def fetch(self, task: dict[str, Any]) -> dict[str, Any]:
        if "broken" in task["url"]:
            self.events.append(("fetch", task["url"]))
            text = _visit_failure(task["url"], task["goal"])
            observation = {"call_id": task["call_id"], "index": task["index"], "text": text}
            return {"observations": [observation], "clock": START_TIME + 2}
        return await super().fetch(task)

    async def extract(self, task: dict[str, Any]) -> dict[str, Any]:
        url, goal = task["url"], task["goal"]
        self.events.append(("extract", url))
        text = _visit_text(url, goal, f"E of {url}", f"S of {url}")
        observation = {"call_id": task["call_id"], "index": task["index"], "text": text}
        return {"observations": [{**observation, "source": url}], "clock": START_TIME + 3}


def _reference_visit(items: list[str]) -> str:
    """Visit.call: one page's text, or the pages joined with the separator; then .strip()."""
    return prompts.OBSERVATION_SEPARATOR.join(items).strip()


@pytest.mark.parametrize(
    "url", ["https://a.example/1", ["https://a.example/1"], ["https://broken.example/"]]
)
async def test_one_visited_url_is_stripped_as_the_reference_strips_it(url: Any) -> None:
    script = [call("visit", {"url": url, "goal": "g"}), answer("x")]
    _, ports = await run(script, ports_class=VisitPorts)
    single = url if isinstance(url, str) else url[0]
    if "broken" in single:
        item = _visit_failure(single, "g")
    else:
        item = _visit_text(single, "g", f"E of {single}", f"S of {single}")
    observation = _reference_visit([item])
    assert observation == item[: -len("\n\n")]  # the page's closing blank line is gone
    assert ports.prompts_seen[1][-1]["content"] == wrapped(observation)


async def test_several_visited_urls_keep_inner_blank_lines_and_lose_the_last() -> None:
    urls = ["https://a.example/1", "https://broken.example/", "https://c.example/3"]
    script = [call("visit", {"url": urls, "goal": "g"}), answer("x")]
    _, ports = await run(script, ports_class=VisitPorts)
    items = [
        _visit_text(urls[0], "g", f"E of {urls[0]}", f"S of {urls[0]}"),
        _visit_failure(urls[1], "g"),
        _visit_text(urls[2], "g", f"E of {urls[2]}", f"S of {urls[2]}"),
    ]
    content = ports.prompts_seen[1][-1]["content"]
    assert content == wrapped(_reference_visit(items))
    assert "\n\n\n=======\nThe useful information in" in content  # inner pages unstripped
    assert content.endswith(f"S of {urls[2]}\n</tool_response>")


async def test_search_observations_are_not_stripped() -> None:
    # The reference strips only the visit tool's result.
    class Padded(Ports):
        async def search(self, task: dict[str, Any]) -> dict[str, Any]:
            update = await super().search(task)
            update["observations"][0]["text"] += "\n\n"
            return update

    _, ports = await run([call("search", {"query": ["q"]}), answer("x")], ports_class=Padded)
    assert ports.prompts_seen[1][-1]["content"] == wrapped("results for q\n\n")
