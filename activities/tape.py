"""Tapes: the observations an earlier run recorded (search results and page reads, by
request), so that a replay evaluation (`eval --replay-from`) answers its tool calls from them
with no network and no API cost, and a change of prompt, model, dialect or code is compared on
the same evidence. A tape is one JSON blob in the blob store; the tool nodes look a task up in
it before they would go live. What a node returns is recorded in the new session's history
like any result, so its replays never read the tape again."""

from __future__ import annotations

import functools
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.context import current
from graphs.react import TAPED as TAPED_NODES  # what a tape holds: the web, not the sandbox

__all__ = ["TAPED_NODES", "decode_tape", "encode_tape", "replayed", "tape_key", "taped"]
TAPE_VERSION = 1
# An observation's marks of how the recorded run got it: not how the replay did.
NOT_REPLAYED = ("cached", "cached_age_s")
_KEPT = 4  # tapes a worker keeps decoded (one per replay run at a time, typically)
_tapes: OrderedDict[str, dict[str, Any]] = OrderedDict()

Node = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def tape_key(node: str, task: dict[str, Any]) -> str:
    """A request as the tape files it: a search by its query, a page read by URL and goal."""
    if node == "read":
        return json.dumps(["read", task.get("url", ""), task.get("goal", "")], ensure_ascii=False)
    return json.dumps([node, task.get("query", "")], ensure_ascii=False)


def encode_tape(entries: dict[str, dict[str, Any]], sessions: list[str]) -> bytes:
    """The tape's blob: each request's recorded node result, and the sessions it came from."""
    body = {"version": TAPE_VERSION, "sessions": sessions, "entries": entries}
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")


def decode_tape(data: bytes) -> dict[str, dict[str, Any]]:
    body = json.loads(data)
    if not isinstance(body, dict) or body.get("version") != TAPE_VERSION:
        raise ValueError("not a tape of this version")
    return dict(body.get("entries") or {})


async def _entries(digest: str) -> dict[str, dict[str, Any]]:
    if digest in _tapes:
        _tapes.move_to_end(digest)
        return _tapes[digest]
    try:
        entries = decode_tape(await current().blobs.get_async(digest))
    except (KeyError, ValueError) as error:
        raise ApplicationError(
            f"the replay's tape {digest} cannot be read: {error}", type="NoTape", non_retryable=True
        ) from None
    _tapes[digest] = entries
    while len(_tapes) > _KEPT:
        _tapes.popitem(last=False)
    return entries


def replayed(recorded: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    """The recorded result as this task's: its observation under this call's id and index,
    text byte for byte the same, marked as replayed."""
    observations = [
        {**{k: v for k, v in o.items() if k not in NOT_REPLAYED},
         "call_id": task["call_id"], "index": task["index"], "replayed": True}
        for o in recorded.get("observations") or []
    ]  # fmt: skip
    return {**recorded, "observations": observations, "clock": time.time()}


def _asked(node: str, task: dict[str, Any]) -> str:
    if node == "read":
        return f"visit {task.get('url', '')!r} (goal {task.get('goal', '')!r})"
    return f"{node} {task.get('query', '')!r}"


def taped(node: str, live: Node) -> Node:
    """The tool node `live`, answering a task that carries a tape from it: the recorded
    result; a request the tape lacks fails the session (on_miss `fail`, non-retryable: the
    evaluation marks the question failed) or goes live (`live`)."""

    @functools.wraps(live)
    async def answer(task: dict[str, Any]) -> dict[str, Any]:
        tape = task.get("tape")
        if not tape:
            return await live(task)
        recorded = (await _entries(str(tape.get("blob")))).get(tape_key(node, task))
        if recorded is not None:
            return replayed(recorded, task)
        if tape.get("on_miss") == "live":
            return await live({k: v for k, v in task.items() if k != "tape"})
        raise ApplicationError(
            f"not on the replay's tape: {_asked(node, task)} (eval --on-miss live sends it)",
            type="NotOnTape",
            non_retryable=True,
        )

    return answer
