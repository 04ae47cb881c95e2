"""The Tongyi text dialect: rendering the conversation and parsing the model's turns."""

from __future__ import annotations

import json

import json5
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from graphs import prompts
from graphs.protocol import tongyi

TODAY = "2025-03-04"


def call(name: object, arguments: object = None, **extra: object) -> str:
    """A <tool_call> block holding one JSON call."""
    body: dict[str, object] = {"name": name, **extra}
    if arguments is not None:
        body["arguments"] = arguments
    return f"<tool_call>\n{json.dumps(body)}\n</tool_call>"


def only_call(message: AIMessage) -> dict:
    assert message.invalid_tool_calls == []
    assert len(message.tool_calls) == 1
    return message.tool_calls[0]


def only_error(message: AIMessage) -> str:
    assert message.tool_calls == []
    assert len(message.invalid_tool_calls) == 1
    bad = message.invalid_tool_calls[0]
    assert bad["name"] is None
    return bad["error"]


# --- render ---------------------------------------------------------------------------------------


def test_system_prompt_is_reference_prompt_plus_date() -> None:
    text = tongyi.system_prompt(TODAY)
    assert text == prompts.SYSTEM_PROMPT + TODAY
    assert text.endswith("Current date: 2025-03-04")


def test_render_maps_each_message_kind_to_its_chat_role() -> None:
    messages = [
        HumanMessage(content="Who?", id="question"),
        AIMessage(content="<think>t</think>\n<tool_call>x</tool_call>", id="ai-1"),
        ToolMessage(content="result one", tool_call_id="call-1", id="tool-call-1"),
        AIMessage(content="<answer>A</answer>", id="ai-2"),
    ]
    assert tongyi.render(messages, TODAY) == [
        {"role": "system", "content": prompts.SYSTEM_PROMPT + TODAY},
        {"role": "user", "content": "Who?"},
        {"role": "assistant", "content": "<think>t</think>\n<tool_call>x</tool_call>"},
        {"role": "user", "content": "<tool_response>\nresult one\n</tool_response>"},
        {"role": "assistant", "content": "<answer>A</answer>"},
    ]


def test_render_wraps_tool_response_with_reference_prefix_and_suffix() -> None:
    out = tongyi.render([ToolMessage(content="R", tool_call_id="c", id="t")], TODAY)
    assert out[-1]["content"] == prompts.TOOL_RESPONSE_PREFIX + "R" + prompts.TOOL_RESPONSE_SUFFIX


def test_render_of_an_empty_conversation_is_the_system_prompt_alone() -> None:
    assert tongyi.render([], TODAY) == [
        {"role": "system", "content": prompts.SYSTEM_PROMPT + TODAY}
    ]


def test_replaced_tool_response_renders_as_raw_user_text() -> None:
    tool = ToolMessage(content="long result", tool_call_id="call-3", id="tool-call-3")
    replaced = tongyi.replace_content(tool, prompts.FORCED_ANSWER_PROMPT)
    assert isinstance(replaced, HumanMessage)
    assert replaced.id == "tool-call-3"
    out = tongyi.render([replaced], TODAY)
    assert out[-1] == {"role": "user", "content": prompts.FORCED_ANSWER_PROMPT}
    assert "<tool_response>" not in out[-1]["content"]


def test_replace_content_of_an_assistant_turn_keeps_role_and_id_and_drops_calls() -> None:
    turn = tongyi.parse(call("search", {"query": ["q"]}), 5)
    replaced = tongyi.replace_content(turn, prompts.LLM_CALL_LIMIT_MESSAGE)
    assert isinstance(replaced, AIMessage)
    assert replaced.id == "ai-5"
    assert replaced.content == prompts.LLM_CALL_LIMIT_MESSAGE
    assert replaced.tool_calls == []
    assert tongyi.render([replaced], TODAY)[-1] == {
        "role": "assistant",
        "content": prompts.LLM_CALL_LIMIT_MESSAGE,
    }


# --- clean_completion / extract_answer / thought --------------------------------------------------


def test_clean_completion_cuts_a_hallucinated_tool_response_and_strips() -> None:
    text = "  <think>x</think>\n<tool_call>{}</tool_call>\n<tool_response>\nfake\n</tool_response>"
    assert tongyi.clean_completion(text) == "<think>x</think>\n<tool_call>{}</tool_call>"
    assert tongyi.clean_completion("\n  plain  \n") == "plain"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>t</think>\n<answer>Paris</answer>", "Paris"),
        ("<answer> spaced \n</answer>", " spaced \n"),  # not stripped, as the reference
        ("<answer></answer>", ""),
        ("<answer>first</answer> <answer>second</answer>", "first"),
        ("<answer>unclosed", None),
        ("closed only</answer>", None),
        ("no tags at all", None),
    ],
)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert tongyi.extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>\n  weighing sources \n</think>\n<answer>x</answer>", "weighing sources"),
        (
            "reasoning without an opening tag</think>\n<tool_call>",
            "reasoning without an opening tag",
        ),
        ("<answer>no thought here</answer>", ""),
        ("<think>unclosed thought", ""),
    ],
)
def test_thought(text: str, expected: str) -> None:
    assert tongyi.thought(AIMessage(content=text)) == expected


# --- parse: ids and answers -----------------------------------------------------------------------


def test_parse_ids_follow_the_turn_number() -> None:
    message = tongyi.parse(call("search", {"query": ["q"]}), 7)
    assert message.id == "ai-7"
    assert only_call(message)["id"] == "call-7"
    bad = tongyi.parse("<tool_call>not json</tool_call>", 8)
    assert bad.id == "ai-8"
    assert bad.invalid_tool_calls[0]["id"] == "call-8"


def test_parse_stores_the_cleaned_completion_as_content() -> None:
    message = tongyi.parse("  <think>t</think>\n<answer>A</answer>\n<tool_response>junk", 1)
    assert message.content == "<think>t</think>\n<answer>A</answer>"


def test_parse_answer_turn_has_no_tool_call_even_when_one_is_present() -> None:
    text = "<think>t</think>\n" + call("search", {"query": ["q"]}) + "\n<answer>42</answer>"
    message = tongyi.parse(text, 1)
    assert message.tool_calls == []
    assert message.invalid_tool_calls == []
    assert tongyi.extract_answer(str(message.content)) == "42"


def test_parse_plain_text_has_no_calls() -> None:
    message = tongyi.parse("<think>just thinking</think>", 2)
    assert message.tool_calls == []
    assert message.invalid_tool_calls == []
    assert message.content == "<think>just thinking</think>"


# --- parse: valid calls ---------------------------------------------------------------------------


def test_parse_valid_search_call() -> None:
    message = tongyi.parse("<think>look</think>\n" + call("search", {"query": ["a", "b"]}), 3)
    assert only_call(message) == {
        "name": "search",
        "args": {"query": ["a", "b"]},
        "id": "call-3",
        "type": "tool_call",
    }


def test_parse_is_json5_lenient() -> None:
    text = "<tool_call>\n{'name': 'visit', 'arguments': {'url': ['https://a.example'], "
    text += "'goal': 'g',},}\n</tool_call>"
    tool_call = only_call(tongyi.parse(text, 1))
    assert tool_call["name"] == "visit"
    assert tool_call["args"] == {"url": ["https://a.example"], "goal": "g"}


# Plain JSON (the C parser's fast path) and inputs only json5 accepts (its fallback).
_LOADS_CASES = [
    '{"name": "search", "arguments": {"query": ["a", "b"]}}',
    '  {"x": [1, -0.0, 1e400, 12345678901234567890, null, true]}  \n',
    '{"a": 1, "a": 2}',
    '"\\ud800 \\u00e9 \u2028"',
    "NaN",
    "{'name': 'visit', 'arguments': {'url': ['https://a.example'], 'goal': 'g',},}",
    '{name: "search", // a comment\n arguments: {query: ["q"]}}',
    "[0x1F, +1, .5, 5.]",
]


@pytest.mark.parametrize("text", _LOADS_CASES)
def test_loads_gives_what_json5_gives(text: str) -> None:
    assert json.dumps(tongyi.loads(text)) == json.dumps(json5.loads(text))


@pytest.mark.parametrize(
    "text", ["", "{", "{'a': }", "[1,, 2]", '{"a": 1} trailing', '{"code": "raw\nnewline"}']
)
def test_loads_rejects_what_json5_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        json5.loads(text)
    with pytest.raises(ValueError):
        tongyi.loads(text)


def test_parse_accepts_arguments_given_as_a_json_string() -> None:
    text = call("search", json.dumps({"query": ["from string"]}))
    assert only_call(tongyi.parse(text, 1))["args"] == {"query": ["from string"]}


def test_parse_empty_arguments_string_and_missing_arguments_mean_no_arguments() -> None:
    assert only_call(tongyi.parse(call("search", ""), 1))["args"] == {}
    assert only_call(tongyi.parse(call("search"), 1))["args"] == {}


def test_parse_unknown_tool_name_is_still_a_valid_call() -> None:
    # The graph, not the parser, answers "Error: Tool ... not found".
    tool_call = only_call(tongyi.parse(call("telepathy", {"x": 1}), 4))
    assert tool_call["name"] == "telepathy"
    assert tool_call["args"] == {"x": 1}


def test_parse_takes_only_the_first_of_two_tool_calls() -> None:
    text = call("search", {"query": ["first"]}) + "\n" + call("search", {"query": ["second"]})
    message = tongyi.parse(text, 1)
    assert only_call(message)["args"] == {"query": ["first"]}


def test_parse_search_mentioning_python_stays_a_search() -> None:
    # The reference routes any call whose text contains "python" to the interpreter.
    text = call("search", {"query": ["python tutorial", "Python asyncio"]})
    tool_call = only_call(tongyi.parse(text, 1))
    assert tool_call["name"] == "search"
    assert tool_call["args"] == {"query": ["python tutorial", "Python asyncio"]}


def test_parse_python_interpreter_with_code_block() -> None:
    text = (
        '<think>compute</think>\n<tool_call>\n{"name": "PythonInterpreter", "arguments": {}}\n'
        "<code>\nprint(1 + 1)\n</code>\n</tool_call>"
    )
    tool_call = only_call(tongyi.parse(text, 2))
    assert tool_call["name"] == "PythonInterpreter"
    assert tool_call["args"] == {"code": "print(1 + 1)"}
    assert tool_call["id"] == "call-2"


def test_parse_hallucinated_tool_response_is_cut_before_parsing() -> None:
    text = call("search", {"query": ["q"]}) + "\n<tool_response>\n" + call("visit", {}) + "\n"
    message = tongyi.parse(text, 1)
    assert "<tool_response>" not in str(message.content)
    assert only_call(message)["name"] == "search"


def test_parse_tool_call_inside_a_hallucinated_tool_response_is_ignored() -> None:
    text = "<think>t</think>\n<tool_response>\n" + call("search", {"query": ["q"]})
    message = tongyi.parse(text, 1)
    assert message.content == "<think>t</think>"
    assert message.tool_calls == []
    assert message.invalid_tool_calls == []


def test_parse_unclosed_tool_call_is_neither_a_call_nor_an_error() -> None:
    text = '<think>t</think>\n<tool_call>\n{"name": "search", "arguments": {"query": ["q"]}}'
    message = tongyi.parse(text, 1)
    assert message.tool_calls == []
    assert message.invalid_tool_calls == []


# --- parse: invalid calls -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "search", "arguments": {"query": ["q"]}',  # truncated JSON
        "not json at all",
        "",
        '{"arguments": {"query": ["q"]}}',  # missing name
        '{"name": 5, "arguments": {}}',  # name not a string
        '["search", {"query": ["q"]}]',  # not an object
        '"search"',
        "null",
        '{"name": "search", "arguments": ["q"]}',  # arguments not an object
        '{"name": "search", "arguments": "not json"}',  # arguments string not JSON
        '{"name": "search", "arguments": "[1, 2]"}',  # arguments string not an object
        '{"name": "search", "arguments": null}',
    ],
)
def test_parse_invalid_call_gets_the_reference_json_error(body: str) -> None:
    message = tongyi.parse(f"<tool_call>\n{body}\n</tool_call>", 6)
    assert only_error(message) == prompts.INVALID_TOOL_CALL_JSON
    bad = message.invalid_tool_calls[0]
    assert bad["id"] == "call-6"
    assert bad["args"] == f"\n{body}\n"  # the raw body is kept for the timeline


@pytest.mark.parametrize(
    "body",
    [
        '\n{"name": "PythonInterpreter", "arguments": {}}\n',  # no code block
        '\n{"name": "PythonInterpreter", "arguments": {}}\n<code>\nprint(1)\n',  # unclosed code
        "\nPythonInterpreter please run print(1)\n",  # not JSON, mentions python
    ],
)
def test_parse_python_call_without_code_is_a_python_format_error(body: str) -> None:
    message = tongyi.parse(f"<tool_call>{body}</tool_call>", 1)
    assert only_error(message) == prompts.PYTHON_FORMAT_ERROR


def test_parse_mangled_search_mentioning_python_gets_the_python_error() -> None:
    # Reference-compatible quirk: the name-based routing only applies to parseable JSON; a
    # mangled call whose text mentions python gets the interpreter's formatting error.
    body = '{"name": "search", "arguments": {"query": ["python tutorial"]}'
    message = tongyi.parse(f"<tool_call>\n{body}\n</tool_call>", 1)
    assert only_error(message) == prompts.PYTHON_FORMAT_ERROR


# --- parse_tool_call ------------------------------------------------------------------------------


def test_parse_tool_call_returns_exactly_one_of_call_and_error() -> None:
    good, bad = tongyi.parse_tool_call('{"name": "search", "arguments": {"query": "q"}}', "c1")
    assert bad is None
    assert good == {"name": "search", "args": {"query": "q"}, "id": "c1", "type": "tool_call"}
    good, bad = tongyi.parse_tool_call("{oops", "c2")
    assert good is None
    assert bad == {
        "name": None,
        "args": "{oops",
        "id": "c2",
        "error": prompts.INVALID_TOOL_CALL_JSON,
        "type": "invalid_tool_call",
    }


def test_parse_tool_call_merges_code_into_interpreter_arguments() -> None:
    raw = '{"name": "PythonInterpreter", "arguments": {"timeout": 5}}\n<code>x = 1\n</code>'
    good, bad = tongyi.parse_tool_call(raw, "c")
    assert bad is None
    assert good is not None
    assert good["args"] == {"timeout": 5, "code": "x = 1"}


# --- regressions (bugs found and fixed) ----------------------------------------


def test_search_whose_query_mentions_the_code_tag_stays_a_search() -> None:
    text = call("search", {"query": ["what does the html <code> element do"]})
    tool_call = only_call(tongyi.parse(text, 1))
    assert tool_call["name"] == "search"
    assert tool_call["args"] == {"query": ["what does the html <code> element do"]}


def test_deeply_nested_tool_call_is_an_invalid_call_not_a_crash() -> None:
    body = '{"name": "search", "arguments": {"query": ' + "[" * 2000
    message = tongyi.parse(f"<tool_call>\n{body}\n</tool_call>", 1)
    assert only_error(message) == prompts.INVALID_TOOL_CALL_JSON
