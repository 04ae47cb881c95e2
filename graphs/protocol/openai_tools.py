"""The `openai` dialect: native function calling (`tools=`, `role: tool`), for any
OpenAI-compatible endpoint and model. Tool calls are translated to the reference tool routes, so
the same graph runs them; the model's own calls are kept to be sent back verbatim."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage

from graphs import prompts
from graphs.protocol.dialect import Completion, Dialect

NAME = "openai"


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


TOOLS: list[dict[str, Any]] = [
    _function(
        "web_search",
        "Search the web; returns the top results with titles, links and snippets.",
        {
            "query": {"type": "string", "description": "The search query."},
            "num_results": {"type": "integer", "description": "How many results (default 10)."},
        },
        ["query"],
    ),
    _function(
        "read_page",
        "Read a web page (or a local document id like doc:...) and return the information in "
        "it that is relevant to the research question.",
        {"url": {"type": "string", "description": "The URL to read."}},
        ["url"],
    ),
    _function(
        "google_scholar",
        "Search academic publications on Google Scholar.",
        {"query": {"type": "string", "description": "The search query."}},
        ["query"],
    ),
    _function(
        "python",
        "Run Python code in a sandbox without network access; print() what you want to see.",
        {"code": {"type": "string", "description": "The code to run."}},
        ["code"],
    ),
    _function(
        "parse_file",
        "Parse files the user uploaded (PDF, DOCX, PPTX, XLSX, CSV, TXT, HTML, ZIP, audio).",
        {"files": {"type": "array", "items": {"type": "string"}, "description": "File names."}},
        ["files"],
    ),
]


def tools() -> list[dict[str, Any]]:
    return TOOLS


def render(messages: list[AnyMessage], today: str) -> list[dict[str, Any]]:
    """Internal messages -> OpenAI chat messages with tool_calls and `role: tool` answers."""
    out: list[dict[str, Any]] = [
        {"role": "system", "content": prompts.OPENAI_SYSTEM_PROMPT + today}
    ]
    for message in messages:
        if isinstance(message, ToolMessage):
            out.append(
                {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
            )
        elif isinstance(message, AIMessage):
            entry: dict[str, Any] = {"role": "assistant", "content": str(message.content) or None}
            calls = message.additional_kwargs.get("openai_tool_calls")
            if calls:
                entry["tool_calls"] = [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                    for call in calls
                ]
            out.append(entry)
        else:
            out.append({"role": "user", "content": str(message.content)})
    return out


def _translate(name: str, args: dict[str, Any], goal: str) -> tuple[str, dict[str, Any]] | None:
    """The model's call -> (reference tool name, arguments) for the graph's routes."""
    if name == "web_search" and isinstance(args.get("query"), str):
        return "search", {"query": [args["query"]]}
    if name == "read_page" and isinstance(args.get("url"), str):
        return "visit", {"url": [args["url"]], "goal": goal}
    if name == "google_scholar" and isinstance(args.get("query"), str):
        return "google_scholar", {"query": [args["query"]]}
    if name == "python" and isinstance(args.get("code"), str):
        return "PythonInterpreter", {"code": args["code"]}
    if name == "parse_file" and isinstance(args.get("files"), list):
        return "parse_file", {"files": args["files"]}
    return None


def parse(text: str, calls: list[dict[str, str]], turn: int, question: str) -> AIMessage:
    """A completion with native tool calls -> AIMessage. Every call runs (parallel calls fan
    out); a reply without calls is the answer. `question` is the goal of page reads."""
    tool_calls: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    calls = [{**call, "id": call.get("id") or f"call-{turn}-{i}"} for i, call in enumerate(calls)]
    known = {tool["function"]["name"] for tool in TOOLS}
    for call in calls:
        call_id = call["id"]
        try:
            args = json.loads(call.get("arguments") or "{}")
        except ValueError:
            args = None
        translated = _translate(call["name"], args, question) if isinstance(args, dict) else None
        if translated is not None:
            name, arguments = translated
            tool_calls.append({"name": name, "args": arguments, "id": call_id, "type": "tool_call"})
        elif call["name"] not in known:
            error = prompts.TOOL_NOT_FOUND.format(name=call["name"])
            invalid.append(_invalid(call_id, call, error))
        else:
            error = f"Error: invalid arguments for {call['name']}: {call.get('arguments')!r}"
            invalid.append(_invalid(call_id, call, error))
    kwargs: dict[str, Any] = {}
    if calls:
        kwargs["openai_tool_calls"] = [
            {"id": c["id"], "name": c["name"], "arguments": c.get("arguments") or "{}"}
            for c in calls
        ]
    else:
        kwargs["answer"] = extract_answer(text)
    return AIMessage(
        content=text.strip(),
        tool_calls=tool_calls,
        invalid_tool_calls=invalid,
        additional_kwargs=kwargs,
        id=f"ai-{turn}",
    )


def _invalid(call_id: str, call: dict[str, str], error: str) -> dict[str, Any]:
    return {
        "name": call["name"],
        "args": call.get("arguments"),
        "id": call_id,
        "error": error,
        "type": "invalid_tool_call",
    }


def extract_answer(text: str) -> str:
    """The reply without tool calls is the answer; <answer> tags, if the model used them, go."""
    if "<answer>" in text and "</answer>" in text:
        return text.split("<answer>")[1].split("</answer>")[0].strip()
    if "</think>" in text:
        text = text.split("</think>", 1)[1]
    return text.strip()


def parse_completion(completion: Completion, turn: int, question: str) -> AIMessage:
    """`parse` of the completion's text and native tool calls (its reasoning is not kept)."""
    return parse(completion.text, list(completion.tool_calls), turn, question)


DIALECT = Dialect(name=NAME, render=render, parse=parse_completion, tools=TOOLS)
