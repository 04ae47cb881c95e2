"""Workspace: what the iterative strategy (IterResearch) saves against ReAct, per round and over
a whole session, in prompt size, prefill, wall time and history bytes.

    .venv/bin/python -m tests.benchmarks.workspace [--rounds 60] [--observation-chars 3000]
        [--thought-chars 400]

The same scripted session of R rounds (a round = one model turn: R-1 searches with distinct
queries, each round writing a <report> of about three findings with their URLs and a
`--thought-chars` thought, then the answer) runs twice on one in-process research worker: with
strategy react (the whole conversation is re-sent every turn; the baseline) and with strategy
iterative (a workspace rebuilt each round from the question, the report and the last action with
its result). Each search returns ten FakeSerper results whose snippets are sized so that the
formatted observation is about `--observation-chars` characters (Serper's page of ten results is
2-3 KB); the size the model was actually shown is measured and printed. From the fake model's
request log: the prompt (characters of every message sent; the fake's usage counts chars/4 as
prompt tokens) at rounds 10, 30 and R, its maximum, and its sum over all rounds (what a server
must prefill without prefix caching). Per session: wall time (start to answer; a 2-round
session of each strategy runs first, so neither pays the cold start), the bytes and events of its
Temporal history (every run, if it continued as new) and the bytes the claim-check codec wrote to
the blob store for it. Ratios are react/iterative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from temporalio.client import Client

from activities.search import format_results
from graphs.state import ResearchLimits
from tests.benchmarks.settings import fake_settings
from tests.fakes import FakeJina, FakeModel, FakeSerper
from tests.fakes.model import iterative_round, message_text
from tests.fakes.serper import slug
from tests.processes import DevServer
from workers.client.timeline import session_histories
from workers.config import Settings
from workers.hosting.research_worker import connect, research_worker
from workers.workflows.models import ResearchInput
from workers.workflows.research import ResearchWorkflow

Strategy = Literal["react", "iterative"]
QUESTIONS: dict[Strategy, str] = {
    "react": "workspace benchmark question, strategy react",
    "iterative": "workspace benchmark question, strategy iterative",
}
WARM_UP: dict[Strategy, str] = {s: f"workspace warm-up, strategy {s}" for s in QUESTIONS}
MARKS = (10, 30)
RESULTS = 10  # Serper's page size
WORDS = (
    "the award committee announced that research on reinforcement learning and temporal "
    "difference methods shaped modern agents according to the published citation and several "
    "interviews with colleagues who described the early work in detail"
).split()


def query(k: int) -> str:
    return f"fact {k} of the workspace benchmark"


def filler(n: int, seed: int) -> str:
    """About n characters of deterministic prose (snippets and thoughts)."""
    words: list[str] = []
    size = 0
    i = seed
    while size < n:
        word = WORDS[i % len(WORDS)]
        words.append(word)
        size += len(word) + 1
        i += 7
    return " ".join(words)[: max(n, 0)].rstrip()


def results(q: str, page_base: str, chars: int) -> list[dict[str, Any]]:
    """Ten organic results whose formatted observation is about `chars` characters."""

    def organic(snippet: int) -> list[dict[str, Any]]:
        return [
            {
                "title": f"Result {i} for {q} - Encyclopedia of Computing",
                "link": f"{page_base}page/{slug(q)}-{i}",
                "snippet": filler(snippet, seed=i),
                "date": "Mar 5, 2025",
                "position": i,
            }
            for i in range(1, RESULTS + 1)
        ]

    base = len(format_results(q, {"organic": organic(0)}))
    return organic(max((chars - base) // RESULTS, 20))


def report(k: int, page_base: str) -> str:
    """The report written in round k: the (up to) three latest findings, with their sources."""
    findings = " ".join(
        f"Finding {j}: fact {j} is known ({page_base}page/{slug(query(j))}-1)."
        for j in range(max(1, k - 3), k)
    )
    return f"<report>{findings or 'Nothing yet.'} Next: look up fact {k}.</report>"


def script(rounds: int, page_base: str, thought: int) -> list[str]:
    turns = []
    for k in range(1, rounds):
        body = json.dumps({"name": "search", "arguments": {"query": [query(k)]}})
        think = f"round {k}: {filler(thought, seed=k)}"
        turns.append(
            f"<think>{think}</think>\n{report(k, page_base)}\n<tool_call>\n{body}\n</tool_call>"
        )
    final = report(rounds, page_base).replace(f" Next: look up fact {rounds}.", "")
    return [*turns, f"<think>done</think>\n{final}\n<answer>42</answer>"]


@dataclass
class Session:
    strategy: Strategy
    prompts: list[int]  # characters sent, index k-1: round k
    observation: float  # mean characters of a search result the model was shown
    seconds: float
    history_bytes: int
    history_events: int
    runs: int
    blob_bytes: int  # what the claim-check codec wrote to the blob store for this session


def prompt_chars(body: dict[str, Any]) -> int:
    """What the fake counts (its prompt_tokens are this // 4)."""
    return sum(len(message_text(m)) for m in body["messages"] if isinstance(m, dict))


def observations(bodies: list[dict[str, Any]]) -> list[int]:
    """The search results each iterative round was shown (the last round's, in its workspace)."""
    sizes = []
    for body in bodies:
        text = message_text(body["messages"][-1])
        if "<tool_response>\n" in text:
            sizes.append(len(text.split("<tool_response>\n", 1)[1].split("\n</tool_response>")[0]))
    return sizes


def blob_bytes(settings: Settings) -> int:
    return sum(p.stat().st_size for p in settings.blob_dir.rglob("*") if p.is_file())


async def run_session(
    client: Client,
    settings: Settings,
    model: FakeModel,
    strategy: Strategy,
    rounds: int,
    question: str,
) -> Session:
    blobs = blob_bytes(settings)
    session_id = f"workspace-{strategy}-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    result = await client.execute_workflow(
        ResearchWorkflow.run,
        ResearchInput(
            question=question,
            strategy=strategy,
            limits=ResearchLimits(max_llm_calls=rounds + 5),
        ),
        id=session_id,
        task_queue=settings.task_queue,
    )
    seconds = time.perf_counter() - started
    assert result.termination == "answer" and result.llm_calls == rounds, result
    assert result.tool_calls == rounds - 1, result
    histories = await session_histories(client, session_id)
    events = [event for history in histories for event in history.events]
    bodies = [
        r.body
        for r in model.research_requests()
        if r.status == 200 and str(r.meta.get("question", "")).startswith(question)
    ]
    assert len(bodies) == rounds, (strategy, len(bodies))
    shown = observations(bodies) if strategy == "iterative" else []
    return Session(
        strategy=strategy,
        prompts=[prompt_chars(body) for body in bodies],
        observation=sum(shown) / len(shown) if shown else 0.0,
        seconds=seconds,
        history_bytes=sum(event.ByteSize() for event in events),
        history_events=len(events),
        runs=len(histories),
        blob_bytes=blob_bytes(settings) - blobs,
    )


def table(react: Session, iterative: Session, rounds: int) -> list[str]:
    def row(name: str, a: float, b: float, unit: str = "") -> str:
        fmt = "{:,.1f}" if unit == " s" else "{:,.0f}"
        return f"| {name} | {fmt.format(a)}{unit} | {fmt.format(b)}{unit} | {a / b:.2f} |"

    lines = [
        "| measure | react (baseline) | iterative | react / iterative |",
        "|---|---|---|---|",
    ]
    for k in (*(m for m in MARKS if m < rounds), rounds):
        lines.append(
            row(f"prompt at round {k} (chars)", react.prompts[k - 1], iterative.prompts[k - 1])
        )
    lines += [
        row("largest prompt (chars)", max(react.prompts), max(iterative.prompts)),
        row("prompt summed over all rounds (chars)", sum(react.prompts), sum(iterative.prompts)),
        row(
            "prefill summed over all rounds (tokens, chars/4)",
            sum(p // 4 for p in react.prompts),
            sum(p // 4 for p in iterative.prompts),
        ),
        row("wall time of the session", react.seconds, iterative.seconds, " s"),
        row("history (bytes, all runs)", react.history_bytes, iterative.history_bytes),
        row("history (events)", react.history_events, iterative.history_events),
        row("blob store written (bytes)", react.blob_bytes, iterative.blob_bytes),
    ]
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--observation-chars", type=int, default=3000)
    parser.add_argument("--thought-chars", type=int, default=400)
    args = parser.parse_args()
    rounds: int = args.rounds
    assert rounds > 1, "a session needs at least one search before its answer"
    sessions: dict[str, Session] = {}
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeJina() as jina,
        FakeSerper(page_base=jina.url) as serper,
        FakeModel() as model,
    ):
        for k in range(1, rounds):
            serper.results[query(k)] = results(query(k), serper.page_base, args.observation_chars)
        turns = script(rounds, serper.page_base, args.thought_chars)
        for question in QUESTIONS.values():
            model.scripts[question] = turns
        for question in WARM_UP.values():
            model.scripts[question] = script(2, serper.page_base, args.thought_chars)
        model.turn_of = iterative_round
        server = DevServer(Path(tmp) / "temporal.db").start()
        try:
            settings = fake_settings(model, serper, jina, tmp)
            client = await connect(settings, server.address)
            async with research_worker(settings, client):
                # A short session of each first, so neither measured one pays the cold start.
                for strategy, question in WARM_UP.items():
                    await run_session(client, settings, model, strategy, 2, question)
                for strategy, question in QUESTIONS.items():
                    sessions[strategy] = await run_session(
                        client, settings, model, strategy, rounds, question
                    )
        finally:
            server.stop()
    react, iterative = sessions["react"], sessions["iterative"]
    runs = "" if react.runs == iterative.runs == 1 else f"; runs: {react.runs}/{iterative.runs}"
    print(
        f"rounds={rounds} ({rounds - 1} searches, then the answer); a search result shown to the "
        f"model: {iterative.observation:,.0f} chars on average (target "
        f"{args.observation_chars}); thought {args.thought_chars} chars{runs}"
    )
    print("\n".join(table(react, iterative, rounds)))
    print(f"benchmark wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
