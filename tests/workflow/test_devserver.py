"""The embedded dev server: started on first use, reused by later commands, its UI pointed at
a codec server started beside it."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from activities.errors import ConfigurationError
from tests.conftest import CLI, REPO
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


def test_a_fresh_server_is_serving_whatever_the_users_temporal_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start waits for the health check to say SERVING (a client that connects as soon
    as the port listens may hear "Frontend is not healthy yet"); the user's TLS, API key and
    profile settings, meant for their own server, do not reach that check."""
    monkeypatch.setenv("TEMPORAL_TLS", "true")
    monkeypatch.setenv("TEMPORAL_API_KEY", "a-key-for-another-server")
    monkeypatch.setenv("TEMPORAL_PROFILE", "nonexistent")
    process = subprocess.Popen(
        [devserver.temporal_binary(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
         "--port", str(port := devserver.free_port()), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        devserver.wait_until_serving(port, 30, process)
        checked = subprocess.run(
            [devserver.temporal_binary(), "operator", "cluster", "health",
             "--address", f"127.0.0.1:{port}", "--disable-config-file"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert "TLS is enabled" in checked.stdout + checked.stderr  # the settings were hostile
    finally:
        process.kill()
        process.wait(10)
    with pytest.raises(ConfigurationError, match="exited with code"):
        devserver.wait_until_serving(port, 5, process)


def test_data_dir_made_private(tmp_path: Path) -> None:
    """An existing data dir (made 0755 by an earlier version, or by hand) and its database
    become this user's only."""
    data = tmp_path / "data"
    (data / "temporal").mkdir(parents=True, mode=0o755)
    data.chmod(0o755)
    (data / "temporal" / "temporal.db").write_bytes(b"")
    (data / "temporal" / "temporal.db").chmod(0o644)
    devserver.private_home(data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "temporal" / "temporal.db").stat().st_mode) == 0o600
    fresh = tmp_path / "fresh" / "data"
    devserver.private_home(fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700


def test_dev_server_starts_once_and_is_reused(tmp_path: Path) -> None:
    address = devserver.ensure_dev_server(tmp_path)
    state = json.loads((tmp_path / "temporal" / "devserver.json").read_text())
    try:
        assert address == f"127.0.0.1:{state['port']}"
        assert devserver.port_open(state["port"])
        assert devserver.port_open(state["ui_port"])  # the web UI is served too
        assert devserver.port_open(state["codec_port"])  # and the codec server its UI calls
        assert (tmp_path / "temporal" / "temporal.db").exists()
        # every question and answer is in there: this user's only
        for db in (tmp_path / "temporal").glob("temporal.db*"):
            assert stat.S_IMODE(db.stat().st_mode) == 0o600, db
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


def test_a_foreign_listener_on_the_recorded_port_is_not_reused(tmp_path: Path) -> None:
    """devserver.json names a port where something else now listens (our server died, another
    program took the port; or the pid was reused): start a fresh server on a free port."""
    home = tmp_path / "temporal"
    home.mkdir()
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        taken = foreign.getsockname()[1]
        # A live pid that is not a temporal server on our database: this test's own process.
        stale = {"pid": os.getpid(), "port": taken, "ui_port": taken, "codec_port": taken}
        (home / "devserver.json").write_text(json.dumps(stale))
        address = devserver.ensure_dev_server(tmp_path)
        state = json.loads((home / "devserver.json").read_text())
        try:
            assert address != f"127.0.0.1:{taken}"
            assert state["port"] != taken and state["pid"] != os.getpid()
            assert devserver.is_our_server(state, home / "temporal.db")
            # A temporal server on another database is not ours either.
            assert not devserver.is_our_server(state, tmp_path / "other.db")
            assert devserver.ensure_dev_server(tmp_path) == address  # ours: reused
            # `deepresearch server` will not start a second server on the same database.
            ports = [str(devserver.free_port()) for _ in range(3)]
            env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
                   "PYTHONPATH": str(REPO), "DEEPRESEARCH_DATA_DIR": str(tmp_path)}  # fmt: skip
            second = subprocess.run(
                [*CLI, "server", "--port", ports[0], "--ui-port", ports[1], "--codec-port",
                 ports[2]], env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert second.returncode == 2 and "already runs on" in second.stderr
        finally:
            if state["pid"] != os.getpid():
                os.kill(state["pid"], signal.SIGTERM)
        assert _gone(state["pid"], 10)
        assert not devserver.is_our_server(state, home / "temporal.db")  # dead: not ours
