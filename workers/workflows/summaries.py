"""Activity summaries, so the Temporal UI and `temporal workflow show` label every step."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

SummaryFn = Callable[[tuple[Any, ...], dict[str, Any]], str]


def _clip(text: str, limit: int = 180) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize_think(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    state = args[0] if args else {}
    turn = state.get("llm_calls", 0) + 1
    return f"think: turn {turn}" + (" (forced final answer)" if state.get("forced") else "")


def summarize_query(tool: str) -> SummaryFn:
    def summary(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        return _clip(f"{tool}: {json.dumps(args[0].get('query', ''), ensure_ascii=False)}")

    return summary


def summarize_fetch(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return _clip(f"visit: {args[0].get('url', '')}")


def summarize_extract(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return _clip(f"extract: {args[0].get('url', '')}")


def summarize_files(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    task = args[0]
    names = [*task.get("files", {}), *task.get("missing", [])]
    return _clip(f"parse_file: {json.dumps(names, ensure_ascii=False)}")


def summarize_code(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    first = next((line for line in args[0].get("code", "").splitlines() if line.strip()), "")
    return _clip(f"python: {first.strip()}", 120)
