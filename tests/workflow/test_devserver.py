"""The embedded dev server: started on first use, reused by later commands."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from workers.hosting import devserver


def test_dev_server_starts_once_and_is_reused(tmp_path: Path) -> None:
    address = devserver.ensure_dev_server(tmp_path)
    state = json.loads((tmp_path / "temporal" / "devserver.json").read_text())
    try:
        assert address == f"127.0.0.1:{state['port']}"
        assert devserver.port_open(state["port"])
        assert devserver.port_open(state["ui_port"])  # the web UI is served too
        assert (tmp_path / "temporal" / "temporal.db").exists()
        assert devserver.ensure_dev_server(tmp_path) == address  # reused, not restarted
        assert json.loads((tmp_path / "temporal" / "devserver.json").read_text()) == state
        assert devserver.ui_url(tmp_path) == f"http://127.0.0.1:{state['ui_port']}"
    finally:
        os.kill(state["pid"], signal.SIGTERM)
