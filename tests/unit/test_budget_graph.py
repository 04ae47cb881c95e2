"""The budget in the research graph, in process: which calls a bound lets through, what the
model reads for the rest, when the forced answer comes, where a pause stops and resumes, and
the budget's own arithmetic."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from graphs import prompts
from graphs.budget import (
    TENANT_HOLD,
    Budget,
    Prices,
    Spent,
    affordable,
    bound_reached,
    lifted,
    spent,
)
from graphs.react import NodeSpec, make_react_graph
from tests.unit.test_react_graph import Ports, answer, call, initial_state, wrapped


async def run_budget(
    script: list[str], budget: dict[str, Any], on_budget: str = "answer", **extra: Any
) -> tuple[dict[str, Any], Ports]:
    ports = Ports(script)
    graph = make_react_graph(
        think=NodeSpec(ports.think, {"execute_in": "activity"}),
        extract=NodeSpec(ports.extract),
        tools={name: NodeSpec(getattr(ports, name)) for name in ("search", "fetch")},
        read=NodeSpec(ports.read),
    )
    state = {**initial_state(), "budget": budget, "on_budget": on_budget, **extra}
    final = await graph.compile().ainvoke(state, {"recursion_limit": 1000})
    return final, ports


async def test_a_search_bound_lets_the_first_queries_through_then_forces_the_answer() -> None:
    final, ports = await run_budget(
        [call("search", {"query": ["a", "b", "c"]}), answer("Alice")], {"searches": 2}
    )
    assert ports.calls("search") == ["a", "b"]
    assert (final["searches"], final["tool_calls"]) == (2, 2)
    assert final["termination"] == prompts.TERMINATION_BUDGET == "budget"
    assert final["answer"] == "Alice"
    # the reference's forced answer overwrote the tool response (its context-limit path)
    assert ports.prompts_seen[1][-1] == {"role": "user", "content": prompts.FORCED_ANSWER_PROMPT}
    assert final["budget_spent"] == "searches"


async def test_a_page_bound_counts_pages_only() -> None:
    final, ports = await run_budget(
        [
            call("visit", {"url": ["https://a.example/1", "https://a.example/2"], "goal": "g"}),
            answer("Bob"),
        ],
        {"pages": 1, "searches": 5},
        read_in_one=True,
    )
    assert ports.calls("read") == ["https://a.example/1"]
    assert final["pages_read"] == 1 and final["searches"] == 0
    assert final["termination"] == "budget" and final["budget_spent"] == "pages"


async def test_the_skip_text_in_the_openai_dialect() -> None:
    """The openai dialect appends the notice, so the tool response with the skip stays."""
    final, ports = await run_budget(
        [call("search", {"query": ["a", "b"]}), answer("x")], {"searches": 1}, protocol="openai"
    )
    texts = [str(m.content) for m in final["messages"]]
    assert "results for a\n=======\n[search] Skipped 'b': the session's budget of 1 searches " \
        "is spent." in texts  # fmt: skip
    assert ports.calls("search") == ["a"]


async def test_a_token_bound_is_checked_after_each_step() -> None:
    final, ports = await run_budget(
        [call("search", {"query": "a"}), call("search", {"query": "b"}), answer("A")],
        {"tokens": 1},
    )
    assert ports.calls("search") == ["a"]  # the step that passed it finishes; then the answer
    assert final["termination"] == "budget" and final["budget_spent"] == "tokens"
    assert final["llm_calls"] == 2


async def test_no_budget_is_no_bound() -> None:
    final, ports = await run_budget([call("search", {"query": ["a", "b"]}), answer("A")], {})
    assert ports.calls("search") == ["a", "b"] and final["termination"] == "answer"
    assert final["searches"] == 2


async def test_pause_before_a_turns_calls_sends_none_of_them() -> None:
    final, ports = await run_budget(
        [call("search", {"query": "a"}), call("search", {"query": ["b", "c"]}), answer("A")],
        {"searches": 2},
        on_budget="pause",
    )
    assert ports.calls("search") == ["a"]
    assert final.get("termination") is None
    assert final["awaiting_budget"] == "searches" and final["resume_at"] == "act"
    assert final["budget_need"] == {"searches": 2, "pages": 0}
    assert final["llm_calls"] == 2  # the turn is kept; after a top-up `act` plans it again
    # the top-up: the graph enters at act with the raised budget, no model call repeated
    resumed = {**final, "budget": {"searches": 3}, "awaiting_budget": ""}
    ports.events.clear()
    graph = make_react_graph(
        think=NodeSpec(ports.think, {"execute_in": "activity"}),
        extract=NodeSpec(ports.extract),
        tools={"search": NodeSpec(ports.search), "fetch": NodeSpec(ports.fetch)},
    )
    done = await graph.compile().ainvoke(resumed, {"recursion_limit": 1000})
    assert ports.events == [("search", "b"), ("search", "c"), ("think", "3")]
    assert done["termination"] == "answer" and done["searches"] == 3
    assert not done.get("resume_at")


async def test_pause_after_a_step_that_passed_the_token_bound() -> None:
    final, ports = await run_budget(
        [call("search", {"query": "a"}), answer("A")], {"tokens": 1}, on_budget="pause"
    )
    assert final["awaiting_budget"] == "tokens" and final["resume_at"] == "think"
    assert final["llm_calls"] == 1 and ports.calls("search") == ["a"]
    assert final["messages"][-1].content == "results for a"  # the step's result is kept


async def test_pause_mode_reaching_the_search_bound_does_not_stop_a_turn_that_answers() -> None:
    final, ports = await run_budget(
        [call("search", {"query": "a"}), answer("A")], {"searches": 1}, on_budget="pause"
    )
    assert final["termination"] == "answer" and ports.calls("search") == ["a"]
    assert ports.prompts_seen[1][-1] == {"role": "user", "content": wrapped("results for a")}


def test_budget_arithmetic() -> None:
    budget = Budget(searches=2, usd=1.0)
    assert budget.raised(Budget(searches=3, tokens=5)) == Budget(searches=5, usd=1.0)
    assert Budget(searches=9).capped(Budget(searches=4, usd=2)) == Budget(searches=4, usd=2)
    assert Budget().capped(Budget(pages=3)) == Budget(pages=3)  # the tenant's default
    assert not Budget().bounded() and Budget(tokens=0).bounded()
    prices = Prices(prompt=0.5, completion=2, search=0.01, page=0.1).model_dump()
    state = {"prompt_tokens": 1_000_000, "completion_tokens": 500_000, "searches": 3,
             "pages_read": 2, "estimated_tokens": 7, "prices": prices}  # fmt: skip
    used = spent(state)
    assert used == Spent(tokens=1_500_000, prompt_tokens=1_000_000, completion_tokens=500_000,
                         estimated_tokens=7, searches=3, pages=2, usd=1.73)  # fmt: skip
    assert bound_reached(Budget(usd=1.73), used) == "usd"
    assert bound_reached(Budget(usd=1.74, searches=4), used) is None
    assert bound_reached(Budget(tokens=1_500_000, searches=3), used) == "tokens"  # first named
    assert affordable(Budget(searches=5), used, "scholar") == 2
    assert affordable(Budget(searches=1), used, "search") == 0
    assert affordable(Budget(pages=4), used, "read") == 2
    assert affordable(Budget(pages=4), used, "python") is None
    assert lifted(Budget(usd=2), used, None) and not lifted(Budget(usd=1), used, None)
    assert lifted(Budget(searches=5), used, {"searches": 2, "pages": 0})
    assert not lifted(Budget(searches=4), used, {"searches": 2, "pages": 0})


@pytest.mark.parametrize(
    "bad",
    [{"searches": -1}, {"usd": float("inf")}, {"usd": -0.5}, {"tokens": 10**13}, {"dollars": 1}],
)
def test_bad_budgets_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Budget(**bad)


def test_negative_prices_are_refused() -> None:
    with pytest.raises(ValidationError):
        Prices(search=-1)


async def hold_run(script: list[str], hold: str | None) -> tuple[dict[str, Any], Ports]:
    """The graph with the workflow's control saying the tenant's period budget is spent."""
    ports = Ports(script)
    graph = make_react_graph(
        think=NodeSpec(ports.think, {"execute_in": "activity"}),
        extract=NodeSpec(ports.extract),
        tools={"search": NodeSpec(ports.search), "fetch": NodeSpec(ports.fetch)},
    )
    final = await graph.compile().ainvoke(
        initial_state(), {"recursion_limit": 1000}, context={"hold": hold}
    )
    return final, ports


async def test_a_tenant_hold_stops_before_the_next_call_whatever_on_budget_says() -> None:
    final, ports = await hold_run([call("search", {"query": "a"}), answer("A")], "spent")
    assert ports.calls("search") == []
    assert final["awaiting_budget"] == TENANT_HOLD == "tenant" and final["resume_at"] == "act"
    assert final["llm_calls"] == 1 and final.get("termination") is None
    free, _ = await hold_run([call("search", {"query": "a"}), answer("A")], None)
    assert free["termination"] == "answer" and not free.get("awaiting_budget")


async def test_a_tenant_hold_does_not_stop_a_turn_that_answers() -> None:
    final, ports = await hold_run([answer("A")], "spent")
    assert final["termination"] == "answer" and final["answer"] == "A"
    assert not final.get("awaiting_budget")
