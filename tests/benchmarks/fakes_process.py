"""The loopback fakes in a process of their own, so that a benchmark's worker does not share
its interpreter (its GIL) with them: in production the model server and the tools are other
machines. Driven over stdin/stdout, one JSON object a line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fakes import FakeJina, FakeModel, FakeSerper, fake_env

REPO = Path(__file__).resolve().parents[2]


class FakesProcess:
    """`python -m tests.benchmarks.fakes_process SESSIONS`: FakeJina, FakeSerper and FakeModel
    scripted for the concurrency benchmark's sessions; `env` points deepresearch at them."""

    def __init__(self, sessions: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.fakes_process", str(sessions)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        self.env: dict[str, str] = hello["env"]
        self.model_url: str = hello["model_url"]
        self.pid = self.process.pid

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        return json.loads(self.process.stdout.readline())

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def set_latency(self, seconds: float) -> None:
        self.ask(latency=seconds)

    def records(self) -> list[dict[str, Any]]:
        """The model's answered requests: at, kind, question or goal, body."""
        return self.ask(records=True)["records"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.ask(quit=True)
            self.process.wait(10)

    def __enter__(self) -> FakesProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(sessions: int) -> None:
    from tests.benchmarks import concurrency as bench

    with (
        FakeJina() as jina,
        FakeSerper(page_base=jina.url) as serper,
        FakeModel() as model,
    ):
        model.scripts[bench.WARM_UP] = bench.script(-1, jina.url)
        model.scripts.update(
            {bench.question(i): bench.script(i, jina.url) for i in range(sessions)}
        )
        print(json.dumps({"env": fake_env(model, serper, jina), "model_url": model.url}))
        sys.stdout.flush()
        for line in sys.stdin:
            command = json.loads(line)
            reply: dict[str, Any] = {}
            if "latency" in command:
                model.latency = float(command["latency"])
            if command.get("records"):
                reply["records"] = [
                    {
                        "at": r.at,
                        **{k: r.meta.get(k) for k in ("kind", "question", "goal")},
                        "body": r.body,
                    }  # fmt: skip
                    for r in model.records(lambda r: r.status == 200 and "kind" in r.meta)
                ]
            print(json.dumps(reply))
            sys.stdout.flush()
            if command.get("quit"):
                return


if __name__ == "__main__":
    serve(int(sys.argv[1]))
