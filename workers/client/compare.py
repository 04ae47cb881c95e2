"""Two sessions side by side from where they diverge (`deepresearch compare`, the API's
`/v1/sessions/compare`): a fork against its original, two models or prompts on one question.
Pure: it reads two timelines (`Sessions.timeline`) and decides nothing else."""

from __future__ import annotations

import json
from typing import Any

TEXT = 300  # an action or observation, clipped: the full text is in `show`


def _clip(text: str) -> str:
    return text if len(text) <= TEXT else text[:TEXT] + "…"


def _action(step: dict[str, Any]) -> str:
    """What a model turn did, in one line: its tool call, its answer, or its thought."""
    call = step.get("tool_call")
    if isinstance(call, dict):
        arguments = json.dumps(call.get("arguments"), ensure_ascii=False, sort_keys=True)
        return _clip(f"{call.get('name')} {arguments}")
    if step.get("answer") is not None:
        return _clip(f"answer: {step['answer']}")
    if step.get("invalid_tool_call"):
        return _clip(f"invalid tool call: {step['invalid_tool_call'].get('error')}")
    return _clip(f"thought: {step.get('thought', '')}")


def turns(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A timeline's model turns, numbered from 1: each model call with the tool calls that
    followed it (what they asked for and the start of what came back)."""
    found: list[dict[str, Any]] = []
    for step in steps:
        if step.get("node") == "think":
            tokens = (step.get("prompt_tokens") or 0) + (step.get("completion_tokens") or 0)
            found.append(
                {
                    "step": len(found) + 1,
                    "action": _action(step),
                    "tokens": tokens,
                    "status": step.get("status"),
                    "tools": [],
                }
            )
        elif found and step.get("node") not in (None, "report", "draft"):
            asked = step.get("query") or step.get("url") or step.get("summary") or ""
            found[-1]["tools"].append(
                {
                    "node": step.get("node"),
                    "asked": _clip(str(asked)),
                    "observation": _clip(str(step.get("observation", ""))),
                }
            )
    return found


def _same(left: dict[str, Any], right: dict[str, Any]) -> bool:
    return (left["action"], left["tools"]) == (right["action"], right["tools"])


def diverge_at(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> int | None:
    """The first step at which two sessions' turns differ (an action or what a tool call
    returned); None when neither has a turn the other lacks and all are the same."""
    for index, (a, b) in enumerate(zip(left, right, strict=False)):
        if not _same(a, b):
            return index + 1
    if len(left) == len(right):
        return None
    return min(len(left), len(right)) + 1


def _side(session_id: str, timeline: dict[str, Any], taken: list[dict[str, Any]]) -> dict:
    report = timeline.get("report") if isinstance(timeline.get("report"), dict) else {}
    progress = timeline.get("progress") or {}
    spent = report.get("spent") or progress.get("spent") or {}
    return {
        "session": session_id,
        "status": timeline.get("status"),
        "answer": report.get("answer"),
        "termination": report.get("termination"),
        "steps": len(taken),
        "tokens": spent.get("tokens", 0),
        "usd": spent.get("usd", 0.0),
        "sources": list(report.get("sources") or []),
        "forked_from": timeline.get("forked_from"),
    }


def compare(a: str, a_timeline: dict[str, Any], b: str, b_timeline: dict[str, Any]) -> dict:
    """Both sessions' outcomes (answer, termination, steps, tokens and cost as each spent
    them: a fork's own spending starts at its first live step), where they diverge, each one's
    turns from there (with the tokens those took), and their sources against each other."""
    left, right = turns(a_timeline.get("steps") or []), turns(b_timeline.get("steps") or [])
    at = diverge_at(left, right)
    first = (at or len(left) + 1) - 1
    a_side, b_side = _side(a, a_timeline, left), _side(b, b_timeline, right)
    a_sources, b_sources = a_side["sources"], b_side["sources"]
    for side, taken in ((a_side, left), (b_side, right)):
        side["tokens_from_divergence"] = sum(turn["tokens"] for turn in taken[first:])
    return {
        "a": a_side,
        "b": b_side,
        "diverge_at_step": at,
        "same_steps": first,
        "a_steps": left[first:],
        "b_steps": right[first:],
        "sources": {
            "both": [url for url in a_sources if url in b_sources],
            "only_a": [url for url in a_sources if url not in b_sources],
            "only_b": [url for url in b_sources if url not in a_sources],
        },
        "answer_changed": a_side["answer"] != b_side["answer"],
    }
