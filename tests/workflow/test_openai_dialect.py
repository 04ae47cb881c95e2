"""A session in the `openai` dialect: native tool calls, parallel calls fanned out, `role: tool`
answers, a reply without calls is the answer."""

from __future__ import annotations

import json

from tests.conftest import Stack

QUESTION = "Which award did Barto and Sutton receive in 2025?"


def test_openai_dialect_end_to_end(stack: Stack) -> None:
    page = f"{stack.jina.url}/page/acm-2024"
    stack.script(
        QUESTION,
        [
            {
                "content": "",
                "tool_calls": [
                    {"name": "web_search", "arguments": {"query": "Barto Sutton award"}},
                    {"name": "web_search", "arguments": {"query": "Turing Award 2024"}},
                    {"name": "read_page", "arguments": {"url": page}},
                ],
            },
            {"content": "", "tool_calls": [{"name": "read_page", "arguments": "{not json"}]},
            {"content": "The 2024 ACM Turing Award, announced in March 2025. Source: " + page},
        ],
    )
    result = stack.cli("ask", QUESTION, "--json", DEEPRESEARCH_PROTOCOL="openai")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["termination"] == "answer"
    assert report["answer"].startswith("The 2024 ACM Turing Award")
    assert report["tool_calls"] == 3 and report["sources"] == [page]
    assert sorted(stack.serper.queries()) == ["Barto Sutton award", "Turing Award 2024"]

    first, second, third = (r.body for r in stack.model.research_requests())
    assert [t["function"]["name"] for t in first["tools"]] == [
        "web_search", "read_page", "google_scholar", "python", "parse_file",
    ]  # fmt: skip
    assert "stop" not in first or first["stop"] is None
    assistant, *tools = second["messages"][2:]
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == [
        "web_search", "web_search", "read_page",
    ]  # fmt: skip
    assert [t["role"] for t in tools] == ["tool", "tool", "tool"]
    assert [t["tool_call_id"] for t in tools] == [c["id"] for c in assistant["tool_calls"]]
    assert tools[0]["content"].startswith("A Google search for 'Barto Sutton award'")
    assert tools[2]["content"].startswith(f"The useful information in {page} for user goal")
    assert QUESTION in tools[2]["content"]  # the goal of a read is the question
    # Malformed arguments are answered on the next turn, the session goes on.
    bad = third["messages"][-1]
    assert bad["role"] == "tool" and bad["content"].startswith("Error: invalid arguments")
