"""The codec server lets the temporal CLI (and the UI) read claim-checked payloads."""

from __future__ import annotations

import base64
import subprocess

from tests.conftest import CLI, REPO, Stack
from tests.workflow.shown import payload_texts
from tests.workflow.test_session import QUESTION, ask_json, four_call_script
from workers.hosting import devserver

CLAIM_CHECK = base64.b64encode(b"binary/claim-check-zlib").decode()


def show(stack: Stack, address: str, *extra: str) -> str:
    command = [devserver.temporal_binary(), "workflow", "show", "-w", "s-codec", "--address",
               address, "-o", "json", *extra]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_temporal_cli_decodes_through_the_codec_server(stack: Stack, temporal_address: str) -> None:
    stack.script(QUESTION, four_call_script(stack))
    ask_json(stack, "--id", "s-codec")
    raw = show(stack, temporal_address)
    assert CLAIM_CHECK in raw  # large payloads are digests in history

    port = devserver.free_port()
    server = subprocess.Popen(
        [*CLI, "codec-server", "--port", str(port)],
        env=stack.env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        devserver.wait_for_port(port, 20, server)
        decoded = show(stack, temporal_address, "--codec-endpoint", f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(10)
    assert CLAIM_CHECK not in decoded
    # The decoded payloads are JSON (base64 in the CLI's output): the extractor's input is there.
    texts = payload_texts(decoded)
    assert any("The useful information in" in text for text in texts)
