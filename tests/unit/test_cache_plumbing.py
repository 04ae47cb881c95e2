"""How a session's use of the research cache reaches its tools: `ask --no-cache` and the API's
`cache` field into the workflow input, and `act` handing the state's use to the tool tasks
that consult the cache (and to none in sessions recorded before it)."""

from __future__ import annotations

from typing import Any

from graphs.react import NodeSpec, make_react_graph
from tests.unit.test_react_graph import Ports, answer, call, initial_state
from workers.api.schemas import SessionRequest
from workers.client.inputs import AskOptions, research_input
from workers.config import Settings


class Recording(Ports):
    """The fake nodes, keeping every task they were sent."""

    tasks: list[dict[str, Any]]

    async def search(self, task: dict[str, Any]) -> dict[str, Any]:
        self.tasks.append(task)
        return await super().search(task)

    async def read(self, task: dict[str, Any]) -> dict[str, Any]:
        self.tasks.append(task)
        return await super().read(task)


async def _tasks(state_extra: dict[str, Any]) -> list[dict[str, Any]]:
    script = [
        call("search", {"query": ["a", "b"]}),
        call("visit", {"url": ["https://a.example/1"], "goal": "g"}),
        answer("done"),
    ]
    ports = Recording(script)
    ports.tasks = []
    graph = make_react_graph(
        think=NodeSpec(ports.think, {"execute_in": "activity"}),
        extract=NodeSpec(ports.extract),
        tools={"search": NodeSpec(ports.search), "fetch": NodeSpec(ports.fetch)},
        read=NodeSpec(ports.read),
    )
    state = {**initial_state(), "read_in_one": True, **state_extra}
    await graph.compile().ainvoke(state, {"recursion_limit": 100})
    return ports.tasks


async def test_act_hands_the_sessions_use_of_the_cache_to_its_tools() -> None:
    use = {"tenant": "acme", "read": False}
    tasks = await _tasks({"cache": use})
    assert [t["tool"] for t in tasks] == ["search", "search", "read"]
    assert all(t["cache"] == use for t in tasks)
    assert all("cache" not in t for t in await _tasks({}))  # recorded before the cache


def test_no_cache_reaches_the_workflow_input() -> None:
    settings = Settings()
    assert research_input(settings, AskOptions(question="q"), {}).cache is True
    assert research_input(settings, AskOptions(question="q", cache=False), {}).cache is False
    assert SessionRequest(question="q", cache=False).options("t").cache is False
    assert SessionRequest(question="q").options("t").cache is True
