"""The embedded dev server: started on first use, reused by later commands, its UI pointed at
a codec server started beside it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from workers.hosting import devserver


def _gone(pid: int, within: float) -> bool:
    """The process has exited (a zombie counts: ensure_dev_server's children are this test's)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_dev_server_starts_once_and_is_reused(tmp_path: Path) -> None:
    address = devserver.ensure_dev_server(tmp_path)
    state = json.loads((tmp_path / "temporal" / "devserver.json").read_text())
    try:
        assert address == f"127.0.0.1:{state['port']}"
        assert devserver.port_open(state["port"])
        assert devserver.port_open(state["ui_port"])  # the web UI is served too
        assert devserver.port_open(state["codec_port"])  # and the codec server its UI calls
        assert (tmp_path / "temporal" / "temporal.db").exists()
        args = Path(f"/proc/{state['pid']}/cmdline").read_bytes().split(b"\0")
        endpoint = devserver.codec_endpoint(state["codec_port"]).encode()
        assert args[args.index(b"--ui-codec-endpoint") + 1] == endpoint
        assert devserver.ensure_dev_server(tmp_path) == address  # reused, not restarted
        assert json.loads((tmp_path / "temporal" / "devserver.json").read_text()) == state
        assert devserver.ui_url(tmp_path) == f"http://127.0.0.1:{state['ui_port']}"

        # A codec server that died is started again on the port the UI was given.
        os.kill(state["codec_pid"], signal.SIGTERM)
        assert _gone(state["codec_pid"], 10)
        assert devserver.ensure_dev_server(tmp_path) == address
        devserver.wait_for_port(state["codec_port"], 30)
    finally:
        os.kill(state["pid"], signal.SIGTERM)
    # The codec server follows the dev server out (it watches its pid).
    assert _gone(state["pid"], 10)
    deadline = time.monotonic() + 10
    while devserver.port_open(state["codec_port"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not devserver.port_open(state["codec_port"])
