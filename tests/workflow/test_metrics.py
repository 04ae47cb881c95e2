"""A worker started with --metrics-port serves Temporal's SDK metrics and our counters."""

from __future__ import annotations

import subprocess
import time

import httpx

from tests.conftest import CLI, REPO, Stack
from tests.workflow.test_session import ANSWER, QUESTION, ask_json, four_call_script
from workers.hosting import devserver


def scrape(port: int, needle: str, timeout: float = 20) -> str:
    """Metrics are exported periodically: wait until `needle` shows up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.HTTPError:
            text = ""
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def test_worker_metrics(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    stack.serper.fail_next(1, status=503)
    port = devserver.free_port()
    log = open(stack.data_dir / "metrics-worker.log", "ab")  # noqa: SIM115
    worker = subprocess.Popen(
        [*CLI, "worker", "--metrics-port", str(port)],
        env=stack.env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        devserver.wait_for_port(port, 30, worker)
        report = ask_json(stack, "--no-worker")
        assert report["answer"] == ANSWER
        text = scrape(port, "deepresearch_sessions")
    finally:
        worker.terminate()
        worker.wait(20)
    lines = text.splitlines()

    def value(name: str, *labels: str) -> float:
        """Summed over the series the SDK splits by its own labels (activity type, ...)."""
        found = [
            float(line.rsplit(" ", 1)[1])
            for line in lines
            if line.startswith(name + "{") and all(label in line for label in labels)
        ]
        assert found, f"{name} {labels} not in metrics"
        return sum(found)

    assert value("deepresearch_tool_calls", 'tool="search"', 'outcome="ok"') == 2
    assert value("deepresearch_tool_calls", 'tool="visit"', 'outcome="ok"') >= 2
    assert value("deepresearch_tool_retries", 'tool="search"') == 1
    assert value("deepresearch_model_calls", 'model="fake-model"') == 5  # 3 turns + 2 extractions
    assert value("deepresearch_tokens", 'kind="prompt"') > 0
    assert value("deepresearch_sessions", 'termination="answer"') == 1
    assert any(line.startswith("temporal_") for line in lines)  # the SDK's own metrics
