"""The Temporal web UI shows claim-checked payloads decoded, out of the box: headless Chromium
(Debian's, driven by Playwright) opens a finished session's page in the UI of the dev server
that `ask` starts, and of `deepresearch server`, and reads the model's thought there."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import CLI, REPO, Stack
from tests.workflow.test_session import QUESTION, answer, call
from workers.hosting import devserver

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]  # fmt: skip

# Over the 2 KiB claim-check threshold, so the think result that carries it lives in the blob
# store and history holds only its digest.
PLAN = "Plan: compare the laureate pages before answering."
THOUGHT = PLAN + " Then weigh each source." * 120

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"
)


def long_thought_script() -> list[str]:
    return [call("search", {"query": ["turing award 2024"]}, thought=THOUGHT), answer()]


def ask(stack: Stack, session_id: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        [*CLI, "ask", QUESTION, "--json", "--id", session_id],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@contextmanager
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


def event_history_text(context: object, ui_port: int, session_id: str, decode: bool) -> str:
    """The page's text after opening the session's event history and its think result."""
    page = context.new_page()  # type: ignore[attr-defined]
    if not decode:
        page.route("**/decode*", lambda route: route.abort())
    page.goto(
        f"http://127.0.0.1:{ui_port}/namespaces/default/workflows/{session_id}",
        wait_until="networkidle",
        timeout=60_000,
    )
    page.get_by_text("Event History").first.click()
    page.wait_for_load_state("networkidle")
    if decode:
        preview = page.get_by_text("Plan: compare the").first
        preview.wait_for(timeout=30_000)
        preview.click()  # expands the event: the whole decoded result
        page.get_by_text(PLAN + " Then weigh").first.wait_for(timeout=30_000)
    text = page.inner_text("body")
    page.close()
    return text


def assert_ui_decodes(ui_port: int, session_id: str) -> None:
    with browser() as context:
        decoded = event_history_text(context, ui_port, session_id, decode=True)
        assert PLAN in decoded and "Then weigh each source. Then weigh each source." in decoded
        # Control: with the codec server's answers blocked, the same page shows no thought.
        raw = event_history_text(context, ui_port, session_id, decode=False)
        assert "Plan: compare the" not in raw and "Event History" in raw


def test_ui_of_the_embedded_dev_server_decodes(stack: Stack) -> None:
    """`ask` with no TEMPORAL_ADDRESS starts the dev server and its codec server itself."""
    stack.script(QUESTION, long_thought_script())
    env = {k: v for k, v in stack.env.items() if k != "TEMPORAL_ADDRESS"}
    state_file = stack.data_dir / "temporal" / "devserver.json"
    try:
        ask(stack, "s-ui-embedded", env)
        state = json.loads(state_file.read_text())
        assert devserver.port_open(state["codec_port"])
        assert_ui_decodes(state["ui_port"], "s-ui-embedded")
    finally:
        if state_file.exists():
            state = json.loads(state_file.read_text())
            for pid in (state["pid"], state.get("codec_pid")):
                if pid:
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass


def test_ui_of_deepresearch_server_decodes(stack: Stack) -> None:
    """`deepresearch server` runs the dev server in the foreground and its codec server in
    process; SIGTERM stops both."""
    stack.script(QUESTION, long_thought_script())
    port, ui_port, codec_port = (devserver.free_port() for _ in range(3))
    env = {k: v for k, v in stack.env.items() if k != "TEMPORAL_ADDRESS"}
    log = open(stack.data_dir / "server.log", "wb")  # noqa: SIM115 - handed to the child
    server = subprocess.Popen(
        [*CLI, "server", "--port", str(port), "--ui-port", str(ui_port),
         "--codec-port", str(codec_port)],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        devserver.wait_for_port(port, 60, server)
        devserver.wait_for_port(ui_port, 30, server)
        assert devserver.port_open(codec_port)
        ask(stack, "s-ui-server", {**env, "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"})
        assert_ui_decodes(ui_port, "s-ui-server")
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    assert not devserver.port_open(port) and not devserver.port_open(codec_port)
