"""Replay evaluations (`eval --replay-from`): the tape of an earlier run's observations, read
from its sessions' histories into one blob, and the comparison of a replay with the run it
replays (per question: answer changed or not, score, steps and tokens before and after)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.blobstore import BlobStore
from activities.tape import TAPED_NODES, encode_tape, tape_key
from workers.client.errors import InvalidRequest
from workers.client.timeline import (
    completed_nodes,
    final_report,
    first_input,
    session_histories,
)
from workers.eval.data import EvalItem
from workers.workflows.evaluation import EvalOutcome, session_id

STATE_FILE = "eval.json"
# What a replay's summary names when it differs from the run it replays.
SETTINGS = ("model", "protocol", "strategy", "sampling", "limits")


class Earlier(BaseModel):
    """One session of the run a replay replays, as the comparison needs it."""

    session_id: str
    question: str
    rollout: int = 1
    answer: str | None = None
    correct: bool | None = None  # as its run's judge found (None: not judged, ids given)
    steps: int = 0
    tokens: int = 0


class Replayed(BaseModel):
    """The run a replay replays: its sessions, their tape, and the settings they ran with."""

    source: str
    sessions: list[Earlier]
    tape: str = Field(description="The tape's blob digest.")
    requests: int = Field(description="Requests on the tape (searches and page reads).")
    settings: dict[str, Any] = Field(default_factory=dict)


def _scored(folder: Path) -> dict[tuple[str, int], bool]:
    """(question, rollout) -> the judge's verdict in an eval folder's iter{k}_scored.jsonl."""
    found: dict[tuple[str, int], bool] = {}
    for path in sorted(folder.glob("iter*_scored.jsonl")):
        rollout = int(path.name.removeprefix("iter").removesuffix("_scored.jsonl") or 0)
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                found[str(row.get("question", "")).strip(), rollout] = bool(row.get("correct"))
    return found


def _named(source: str) -> tuple[list[tuple[str, int]], dict[tuple[str, int], bool]]:
    """The session ids (with their rollouts) a `--replay-from` names: an eval folder's run, or
    a comma-separated list of session ids; and the folder's verdicts."""
    folder = Path(source)
    if folder.is_dir():
        state_file = folder / STATE_FILE
        if not state_file.is_file():
            raise InvalidRequest(f"--replay-from {source}: no evaluation there (no {STATE_FILE})")
        try:
            state = json.loads(state_file.read_text())
            run_id, questions = str(state["run_id"]), int(state["questions"])
            rollouts = int(state["rollouts"])
        except (ValueError, KeyError, TypeError):
            raise InvalidRequest(f"--replay-from {source}: {STATE_FILE} is not readable") from None
        ids = [
            (session_id(run_id, index, rollout), rollout)
            for rollout in range(1, rollouts + 1)
            for index in range(questions)
        ]
        return ids, _scored(folder)
    ids = [(part.strip(), 1) for part in source.split(",") if part.strip()]
    if not ids:
        raise InvalidRequest("--replay-from: name an eval folder or session ids (a,b,...)")
    return ids, {}


async def _tape_of(client: Client, histories: list[Any], entries: dict[str, Any]) -> None:
    """Every completed search, scholar and read of these runs onto the tape (the first answer
    recorded for a request wins: a later one found the web changed)."""
    async for node, task, result in completed_nodes(client, histories, TAPED_NODES):
        if result.get("observations"):
            kept = {**result, "observations": [
                {k: v for k, v in o.items() if k not in ("call_id", "index")}
                for o in result["observations"]
            ]}  # fmt: skip
            entries.setdefault(tape_key(node, task), kept)


async def _earlier(client: Client, histories: list[Any], sid: str, rollout: int) -> Earlier:
    request = await first_input(client, histories)
    earlier = Earlier(session_id=sid, question=str(request.get("question", "")), rollout=rollout)
    report = await final_report(client, histories)
    if report is not None:
        earlier.answer = report.get("answer")
        earlier.steps = int(report.get("llm_calls") or 0)
        earlier.tokens = int(report.get("prompt_tokens") or 0) + int(
            report.get("completion_tokens") or 0
        )
    return earlier


async def replayed_run(client: Client, blobs: BlobStore, source: str) -> Replayed:
    """The run `source` names (an eval folder or session ids), its tape stored as a blob."""
    named, verdicts = _named(source)
    entries: dict[str, Any] = {}
    sessions: list[Earlier] = []
    settings: dict[str, Any] = {}
    for sid, rollout in named:
        try:
            histories = await session_histories(client, sid)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise InvalidRequest(
                    f"--replay-from: session {sid!r} is not on the server (past its retention?)"
                ) from None
            raise
        await _tape_of(client, histories, entries)
        earlier = await _earlier(client, histories, sid, rollout)
        earlier.correct = verdicts.get((earlier.question.strip(), rollout))
        sessions.append(earlier)
        if not settings:
            first = await first_input(client, histories)
            settings = {k: first.get(k) for k in SETTINGS}
    if not entries:
        raise InvalidRequest(
            f"--replay-from {source}: its sessions recorded no search or page read to replay"
        )
    digest = await blobs.put_async(encode_tape(entries, [s.session_id for s in sessions]))
    return Replayed(
        source=source, sessions=sessions, tape=digest, requests=len(entries), settings=settings
    )


def changed_settings(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The settings a replay runs with that differ from the replayed run's: name -> [was, is]."""
    return {k: [before.get(k), now.get(k)] for k in SETTINGS if before.get(k) != now.get(k)}


def _score(values: list[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(100 * sum(known) / len(known), 2) if known else None


def comparison(
    replay: Replayed, outcomes: list[EvalOutcome], items: list[EvalItem], now: dict[str, Any]
) -> dict[str, Any]:
    """Per question and rollout, the replay against the session it replays: answer changed or
    not, score (the judge's verdict), steps and tokens, before and after."""
    before = {(s.question.strip(), s.rollout): s for s in replay.sessions}
    questions = {item.index: item.question for item in items}
    rows = []
    for outcome in sorted(outcomes, key=lambda o: (o.index, o.rollout)):
        question = questions.get(outcome.index, "")
        earlier = before.get((question.strip(), outcome.rollout)) or before.get(
            (question.strip(), 1)
        )
        report = outcome.report
        after = report.answer if report else None
        rows.append(
            {
                "index": outcome.index,
                "rollout": outcome.rollout,
                "question": question,
                "session_id": outcome.session_id,
                "replays": earlier.session_id if earlier else None,
                "answer_before": earlier.answer if earlier else None,
                "answer_after": after,
                "answer_changed": earlier is None or earlier.answer != after,
                "correct_before": earlier.correct if earlier else None,
                "correct_after": bool(outcome.verdict.correct) if outcome.verdict else None,
                "steps_before": earlier.steps if earlier else None,
                "steps_after": report.llm_calls if report else None,
                "tokens_before": earlier.tokens if earlier else None,
                "tokens_after": report.prompt_tokens + report.completion_tokens if report else None,
                "error": outcome.error,
            }
        )
    return {
        "replayed_from": replay.source,
        "tape": replay.tape,
        "tape_requests": replay.requests,
        "settings_changed": changed_settings(replay.settings, now),
        "answers_changed": sum(1 for row in rows if row["answer_changed"]),
        "failed": sum(1 for row in rows if row["error"]),
        "score_before": _score([row["correct_before"] for row in rows]),
        "score_after": _score([row["correct_after"] for row in rows]),
        "questions": rows,
    }
