"""Real processes the tests and benchmarks start, stop and kill: a Temporal dev server, a
llama.cpp model server."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from workers.hosting import devserver

REPO = Path(__file__).resolve().parents[1]


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether `url` answered 200 within `timeout` seconds (False at once if `process` exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


class Managed:
    """A child process that a test stops gracefully or kills as a crash would."""

    process: subprocess.Popen[bytes] | None = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, as when a machine dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


REQUEST_METRICS = {"service_requests": "frontend", "persistence_requests": "persistence"}


class DevServer(Managed):
    """`temporal server start-dev` on a free port and a database file that outlives it."""

    def __init__(self, db: Path, tuned: bool = True) -> None:
        self.db = db
        self.tuned = tuned  # the embedded server's dispatch and SQLite settings; else stock
        self.port = devserver.free_port()
        self.metrics_port = devserver.free_port()  # the server always serves metrics

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def requests(self) -> Counter[str]:
        """The server's request counts so far, by service and operation, from its Prometheus
        metrics: `frontend Name` for API calls, `persistence Name` for database operations."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text
        counts: Counter[str] = Counter()
        for line in text.splitlines():
            kind = next((k for k in REQUEST_METRICS if line.startswith(k + "{")), None)
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line)) if kind else {}
            if kind and (
                kind == "persistence_requests" or labels.get("service_name") == "frontend"
            ):
                name = f"{REQUEST_METRICS[kind]} {labels.get('operation', '?')}"
                counts[name] += int(float(line.rsplit(" ", 1)[1]))
        return counts

    def start(self) -> DevServer:
        command = [devserver.temporal_binary(), "server", "start-dev", "--headless",
                   "--ip", "127.0.0.1", "--port", str(self.port),
                   "--db-filename", str(self.db), "--log-level", "error",
                   "--metrics-port", str(self.metrics_port),
                   *(devserver.tuning_args() if self.tuned else [])]  # fmt: skip
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.process = subprocess.Popen(command, **quiet)
        devserver.wait_until_serving(self.port, 30, self.process)
        return self


class InferenceProcess(Managed):
    """`deepresearch inference-worker` fronting one model server as replica `name`, in a
    process of its own as in production; `env` points it at Temporal and the blob store."""

    def __init__(self, env: dict[str, str], endpoint: str, name: str, max_concurrent: int) -> None:
        self.command = [sys.executable, "-m", "workers.cli", "inference-worker",
                        "--endpoint", endpoint, "--replica", name,
                        "--max-concurrent", str(max_concurrent)]  # fmt: skip
        self.env = env

    def start(self) -> InferenceProcess:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.process = subprocess.Popen(self.command, env=self.env, **quiet)
        return self


class LlamaServer(Managed):
    """llama-cpp-python's OpenAI-compatible server on loopback, one port for its whole life so
    a restart after SIGKILL comes back where clients look for it."""

    alias = "gemma3-270m"

    def __init__(self, model: Path, log: Path, n_ctx: int = 4096) -> None:
        self.model = model
        self.log = log
        self.n_ctx = n_ctx
        self.port = devserver.free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> LlamaServer:
        """Start and wait until `/v1/models` answers (the model is loaded)."""
        command = [sys.executable, "-m", "tests.realmodel.serve", "--model", str(self.model),
                   "--model_alias", self.alias, "--n_ctx", str(self.n_ctx),
                   "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", "2",
                   "--seed", "7", "--logits_all", "False"]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        if not wait_http(f"{self.url}/v1/models", self.process, timeout):
            self.stop()
            raise RuntimeError(f"llama server not ready after {timeout:g} s: see {self.log}")
        return self
