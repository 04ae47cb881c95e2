"""Research cache: 20 sessions on 5 distinct questions, without the cache and with it.

    .venv/bin/python -m tests.benchmarks.research_cache [--waves 4] [--questions 5]
        [--serper-latency 0.5] [--jina-latency 1.0] [--model-latency 0.5] [--json]

Each session searches two queries, reads two pages of its results and answers (3 research
turns, 2 searches, 2 page reads, 2 extractions). The sessions come in waves, as users do: each
wave starts one session per question at once and waits for them; the next wave asks the same
questions again. One in-process research worker (fronting the fake model as replica `local`),
a real dev server and the loopback fakes with the given latencies (a provider's answer time).
The same run twice, each on a fresh blob store: the baseline with DEEPRESEARCH_CACHE_TTL=off,
then with `search=1h,pages=1h`. Prints the requests each provider answered (searches to
Serper, page reads to Jina, extraction calls to the model; research turns are never cached)
and the wall time, and the ratios cached/baseline; checks that both runs answer alike and that
in each run a question's last prompt (every tool response in it) is byte for byte the same in
every wave: the cached waves' model saw what the live wave's saw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.benchmarks.settings import fake_settings
from tests.fakes import FakeJina, FakeModel, FakeSerper
from tests.processes import DevServer
from workers.hosting.research_worker import connect, research_worker
from workers.workflows.models import ResearchInput
from workers.workflows.research import ResearchWorkflow

WARM_UP = "research cache warm-up"


def question(q: int) -> str:
    return f"What is known about topic {q}?"


def script(q: int, jina_url: str) -> list[str]:
    def call(name: str, arguments: dict[str, Any]) -> str:
        body = json.dumps({"name": name, "arguments": arguments})
        return f"<think>step</think>\n<tool_call>\n{body}\n</tool_call>"

    pages = [f"{jina_url}/page/topic-{q}-{i}" for i in (1, 2)]
    return [
        call("search", {"query": [f"topic {q} overview", f"topic {q} history"]}),
        call("visit", {"url": pages, "goal": f"the facts about topic {q}"}),
        f"<think>done</think>\n<answer>answer {q}</answer>",
    ]


async def one_run(args: argparse.Namespace, ttl: str, tmp: Path) -> dict[str, Any]:
    """Every wave's sessions on one worker; the providers' request counts and the wall time."""
    with FakeJina() as jina, FakeSerper(page_base=jina.url) as serper, FakeModel() as model:
        model.scripts[WARM_UP] = [f"<think>x</think>\n<answer>{WARM_UP}</answer>"]
        model.scripts.update({question(q): script(q, jina.url) for q in range(args.questions)})
        server = DevServer(tmp / "temporal.db").start()
        try:
            settings = fake_settings(
                model,
                serper,
                jina,
                str(tmp / "data"),
                DEEPRESEARCH_CACHE_TTL=ttl,
                DEEPRESEARCH_LOCAL_MAX_CONCURRENT=max(8, args.questions),
            )
            client = await connect(settings, server.address)
            async with research_worker(settings, client):
                queue = settings.task_queue
                await client.execute_workflow(  # worker caches, off the clock
                    ResearchWorkflow.run, ResearchInput(question=WARM_UP), id=f"warm-{queue}",
                    task_queue=queue,
                )  # fmt: skip
                model.clear_log(), serper.clear_log(), jina.clear_log()
                serper.latency, jina.latency = args.serper_latency, args.jina_latency
                model.latency = args.model_latency
                answers: list[str] = []
                started = time.perf_counter()
                for wave in range(args.waves):
                    reports = await asyncio.gather(
                        *(
                            client.execute_workflow(
                                ResearchWorkflow.run,
                                ResearchInput(question=question(q)),
                                id=f"s-{uuid.uuid4().hex[:8]}-w{wave}-q{q}",
                                task_queue=queue,
                            )
                            for q in range(args.questions)
                        )
                    )
                    answers += [report.answer for report in reports]
                elapsed = time.perf_counter() - started
        finally:
            server.stop()
        prompts: dict[str, set[str]] = {}  # each question's last prompts, across the waves
        for r in model.research_requests():
            if r.meta.get("turn") == 2:
                text = json.dumps(r.body["messages"], sort_keys=True)
                prompts.setdefault(r.meta["question"], set()).add(text)
        return {
            "searches": len(serper.queries()),
            "page_reads": len(jina.read_targets()),
            "extractions": len(model.extraction_requests()),
            "research_turns": len(model.research_requests()),
            "wall_s": round(elapsed, 2),
            "answers": sorted(answers),
            "same_prompts": len(prompts) == args.questions
            and all(len(p) == 1 for p in prompts.values()),
        }


def ratio(cached: float, baseline: float) -> str:
    return f"{cached / baseline:.2f}" if baseline else "-"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waves", type=int, default=4, help="sessions per question")
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--serper-latency", type=float, default=0.5)
    parser.add_argument("--jina-latency", type=float, default=1.0)
    parser.add_argument("--model-latency", type=float, default=0.5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs: dict[str, dict[str, Any]] = {}
    for name, ttl in (("baseline", "off"), ("cached", "search=1h,pages=1h")):
        with tempfile.TemporaryDirectory() as tmp:
            runs[name] = await one_run(args, ttl, Path(tmp))
    base, cached = runs["baseline"], runs["cached"]
    same = base["answers"] == cached["answers"] and base["same_prompts"] and cached["same_prompts"]
    keys = ("searches", "page_reads", "extractions", "research_turns", "wall_s")
    if args.json:
        shown = {name: {k: run[k] for k in keys} for name, run in runs.items()}
        print(json.dumps({**shown, "same": same}))
        return
    sessions = args.waves * args.questions
    print(
        f"{sessions} sessions ({args.waves} waves of {args.questions} distinct questions), "
        f"latencies serper {args.serper_latency}s, jina {args.jina_latency}s, model "
        f"{args.model_latency}s"
    )
    print(f"{'':16}{'baseline':>10}{'cached':>10}{'ratio':>8}")
    for key in keys:
        print(f"{key:16}{base[key]:>10}{cached[key]:>10}{ratio(cached[key], base[key]):>8}")
    print(f"same answers in both runs, a question's last prompt the same in every wave: {same}")


if __name__ == "__main__":
    asyncio.run(main())
