"""No configured secret reaches a workflow history, a claim-checked payload or a log."""

from __future__ import annotations

import subprocess
import zlib
from pathlib import Path

from tests.conftest import Stack
from tests.workflow.shown import payload_texts
from tests.workflow.test_session import ANSWER, QUESTION, answer, ask_json, call
from workers.hosting import devserver

SECRETS = {
    "OPENAI_API_KEY": "sk-model-secret-7f3a",
    "SERPER_API_KEY": "serper-secret-91c2",
    "JINA_API_KEY": "jina-secret-44d0",
    "DASHSCOPE_API_KEY": "dashscope-secret-5e1b",
}


def everything_recorded(stack: Stack, address: str, session_id: str) -> str:
    """The history as the server has it (payloads decoded from base64), every blob in the
    store (decompressed) and the logs, as one text."""
    shown = subprocess.run(
        [devserver.temporal_binary(), "workflow", "show", "-w", session_id, "--address", address,
         "-o", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    texts = [shown, *payload_texts(shown)]
    for blob in (stack.data_dir / "blobs").rglob("*"):
        if blob.is_file():
            data = blob.read_bytes()
            try:
                data = zlib.decompress(data)
            except zlib.error:
                pass
            texts.append(data.decode("utf-8", "replace"))
    for log in Path(stack.data_dir).glob("*.log"):
        texts.append(log.read_text(errors="replace"))
    return "\n".join(texts)


def test_no_secret_in_histories_payloads_or_logs(stack: Stack, temporal_address: str) -> None:
    stack.model.api_key = SECRETS["OPENAI_API_KEY"]
    stack.serper.api_key = SECRETS["SERPER_API_KEY"]
    stack.jina.api_key = SECRETS["JINA_API_KEY"]
    page = f"{stack.jina.url}/page/secret-test"
    stack.script(
        QUESTION,
        [
            call("search", {"query": ["turing award"]}),
            call("google_scholar", {"query": ["reinforcement learning"]}),
            call("visit", {"url": [page], "goal": "who won"}),
            call("PythonInterpreter", {"code": "import os; print(sorted(os.environ))"}),
            answer(),
        ],
    )
    report = ask_json(stack, "--id", "s-secrets", **SECRETS)
    assert report["answer"] == ANSWER and report["tool_calls"] >= 3
    # The keys were used (the fakes reject wrong ones), yet recorded nowhere.
    assert stack.serper.queries() and stack.jina.read_targets()
    recorded = everything_recorded(stack, temporal_address, "s-secrets")
    assert "turing award" in recorded  # the scan does see the payloads
    for name, secret in SECRETS.items():
        assert secret not in recorded, f"{name} leaked"
