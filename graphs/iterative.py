"""The iterative-workspace strategy (IterResearch, arXiv 2509.13309): each round the model sees
a workspace rebuilt from the question, its evolving report and only the last action with its
result, and answers with think + report + action. The prompt stays bounded however many rounds
a session runs; the conversation is still kept whole in the state, for timelines and exports.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from graphs import prompts
from graphs.protocol import tongyi
from graphs.tokens import truncate_tokens

NAME = "iterative"
# The strategies' names (kept for callers of this name; the registry is graphs.strategies).
# Caps that bound the workspace (estimated tokens): the report the model carries forward and
# the last result it is shown (a fan-out of 20 searches can return more).
REPORT_TOKENS = 8_192
OBSERVATION_TOKENS = 32_768
# Heavy mode's reports condense an iterative branch from its last rounds (last-k fusion).
FUSION_ROUNDS = 3


def extract_report(text: str) -> str | None:
    """The report a round wrote, or None when it wrote none (the previous one stands)."""
    if "<report>" in text and "</report>" in text:
        return text.split("<report>", 1)[1].split("</report>", 1)[0].strip()
    return None


def action_text(content: str) -> str:
    """A round's output without its thinking and report: the tool call or the answer."""
    text = content.split("</think>", 1)[1] if "</think>" in content else content
    if "<report>" in text and "</report>" in text:
        head, rest = text.split("<report>", 1)
        text = head + rest.split("</report>", 1)[1]
    return text.strip()


def _rounds_from(messages: list[BaseMessage], rounds: int) -> list[BaseMessage]:
    """The question plus everything from the `rounds`-th last model turn on."""
    turns = [i for i, message in enumerate(messages) if isinstance(message, AIMessage)]
    if not turns:
        return list(messages)
    start = turns[-rounds] if len(turns) >= rounds else turns[0]
    return [messages[0], *messages[start:]]


def workspace_state(state: dict[str, Any]) -> dict[str, Any]:
    """What a model call needs of the state: only the question and the last round, so the
    call's input (and its history event) stays bounded too."""
    messages = list(state.get("messages") or [])
    return {**state, "messages": _rounds_from(messages, 1)}


def fusion_messages(messages: list[BaseMessage], report: str) -> list[BaseMessage]:
    """What a Heavy-mode report condenses: the question, the final report (the memory of the
    rounds before) and the last rounds."""
    window = _rounds_from(messages, FUSION_ROUNDS)
    if not report:
        return window
    note = HumanMessage(content=prompts.ITERATIVE_FUSION_NOTE.format(report=report), id="report")
    return [*window[:1], note, *window[1:]]


def _last_round_text(messages: list[BaseMessage]) -> str:
    parts: list[str] = []
    for message in messages:
        if isinstance(message, AIMessage):
            parts.append(f"<last_action>\n{action_text(str(message.content))}\n</last_action>")
        elif isinstance(message, ToolMessage):
            observation = truncate_tokens(str(message.content), OBSERVATION_TOKENS)
            parts.append(f"<tool_response>\n{observation}\n</tool_response>")
        else:  # operator notes, the cancel prompt, a limit notice
            parts.append(str(message.content))
    return "\n\n".join(parts) or prompts.ITERATIVE_FIRST_ROUND


def render(messages: list[BaseMessage], state: dict[str, Any]) -> list[dict[str, str]]:
    """The round's workspace as chat messages: the Tongyi system prompt (tools, formats) and one
    user turn. `messages` starts with the question; the rest is the last round."""
    question = str(messages[0].content) if messages else state.get("question", "")
    report = truncate_tokens(state.get("workspace_report") or "", REPORT_TOKENS)
    user = prompts.ITERATIVE_ROUND_PROMPT.format(
        question=question,
        report=report or prompts.ITERATIVE_EMPTY_REPORT,
        last=_last_round_text(messages[1:]),
        round=state.get("llm_calls", 0) + 1,
    )
    return [
        {"role": "system", "content": tongyi.system_prompt(state.get("today", ""))},
        {"role": "user", "content": user},
    ]


def next_report(content: str, previous: str) -> str:
    """The report carried into the next round."""
    written = extract_report(content)
    return previous if written is None else written


def after_turn(message: AIMessage, state: dict[str, Any]) -> dict[str, Any]:
    """The state update a round adds to the turn: the report it carries forward."""
    previous = state.get("workspace_report", "")
    return {"workspace_report": next_report(str(message.content), previous)}
