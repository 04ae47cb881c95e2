"""The local Python sandbox's filesystem view and memory cap, attacked with real code: another
session's data, another run's code, a host UNIX socket, writes outside its tmpfs, and forked
processes that together want more memory than one run may have. Each attempt runs as this
process's user (root: a uid of its own per run) and, from root, as an unprivileged user too."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from activities import python_exec
from activities.context import ToolContext
from activities.python_exec import local_sandbox
from activities.python_local import MEMORY_LIMIT_BYTES
from tests.activity import sandbox_escapes as escapes

SECRET = "session-secret-" + uuid.uuid4().hex
REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
# Summed VmRSS counts the interpreter pages the forked children share once per child.
SHARED_PAGES_MARGIN_MIB = 64


@dataclass(frozen=True)
class Targets:
    data_file: str
    socket: str
    tmpdir: str

    def writes(self) -> list[str]:
        name = f"escape-{uuid.uuid4().hex}"
        places = ["/", "/usr", "/etc", "/tmp", "/dev", "/var/tmp", os.path.dirname(self.data_file)]
        return [os.path.join(place, name) for place in places]


@pytest.fixture
def targets() -> Iterator[Targets]:
    """A world-readable fake DATA_DIR with a session file, and a 0777 UNIX socket in /tmp:
    anything on the host that does not rely on permissions to stay private."""
    data_dir = tempfile.mkdtemp(prefix="deepresearch-data-")
    os.chmod(data_dir, 0o755)
    data_file = os.path.join(data_dir, "session.json")
    Path(data_file).write_text(SECRET)
    os.chmod(data_file, 0o644)
    path = f"/tmp/deepresearch-test-{uuid.uuid4().hex[:12]}.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    os.chmod(path, 0o777)
    listener.listen(8)
    listener.setblocking(False)
    try:
        yield Targets(data_file, path, tempfile.gettempdir())
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever arrived
    finally:
        listener.close()
        os.unlink(path)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def isolated(tools: ToolContext) -> ToolContext:
    iso = await python_exec.isolation()
    if not iso.mode:
        pytest.skip(f"no isolation on this machine: {iso.reason}")
    return replace(tools, python_timeout_seconds=10)


async def test_another_sessions_data_is_not_visible(
    isolated: ToolContext, targets: Targets
) -> None:
    assert Path(targets.data_file).read_text() == SECRET  # readable by anyone on the host
    text = await local_sandbox(isolated, escapes.read_file(targets.data_file))
    assert text == "stdout:\nrefused: FileNotFoundError\n"


async def test_another_runs_code_is_not_visible(isolated: ToolContext, targets: Targets) -> None:
    import asyncio

    marker = "other-run-" + uuid.uuid4().hex
    waiting = asyncio.ensure_future(local_sandbox(isolated, escapes.waiting_run(marker, 3.0)))
    await asyncio.sleep(1.0)
    text = await local_sandbox(isolated, escapes.find_other_runs(targets.tmpdir))
    assert await waiting == "stdout:\ndone\n"
    assert marker not in text
    found = [line for line in text.splitlines() if line.startswith("found:")]
    assert len(found) == 1 and "glob" in found[0]  # its own code only
    (listing,) = [line for line in text.splitlines() if line.startswith("tmp:")]
    assert listing.count("deepresearch-python-") <= 1  # its own directory at most


async def test_host_unix_sockets_are_unreachable(isolated: ToolContext, targets: Targets) -> None:
    text = await local_sandbox(isolated, escapes.connect_unix(targets.socket))
    assert text == "stdout:\nrefused: FileNotFoundError\n"


async def test_writes_outside_the_work_tmpfs_fail(isolated: ToolContext, targets: Targets) -> None:
    paths = targets.writes()
    text = await local_sandbox(isolated, escapes.write_everywhere(paths))
    assert "wrote" not in text
    assert text.count("refused") == len(paths)
    assert text.endswith("inside ok\n")
    assert not any(os.path.exists(path) for path in paths)


async def test_memory_is_capped_for_the_whole_run(isolated: ToolContext) -> None:
    iso = await python_exec.isolation()
    text = await local_sandbox(
        replace(isolated, python_timeout_seconds=20), escapes.AGGREGATE_MEMORY
    )
    peak = escapes.peak_mib(text)
    # without the cap: 4 x 700 = 2800 MiB; a cgroup kills, the fallback refuses allocations
    assert peak <= (MEMORY_LIMIT_BYTES >> 20) + SHARED_PAGES_MARGIN_MIB, (iso, text)
    assert "The sandbox allows 1024 MiB of memory." in text


def _unprivileged_python() -> str | None:
    """An interpreter (3.11+) that uid NOBODY may execute: ours, else the system's."""
    for python in (os.path.realpath(sys.executable), shutil.which("python3") or ""):
        if not python:
            continue
        probe = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", python]
            + ["-c", "import sys; assert sys.version_info >= (3, 11)"],
            capture_output=True,
            timeout=30,
        )
        if probe.returncode == 0:
            return python
    return None


@pytest.mark.slow
def test_unprivileged_mode_is_contained(targets: Targets) -> None:
    """The Docker image's mode: a non-root worker, an unprivileged user namespace, no cgroup
    to write (so the per-process fallback caps memory)."""
    if os.geteuid() != 0:
        pytest.skip(
            "needs root to start a worker as another uid; as a non-root user the other tests "
            "of this file already run the sandbox in its unprivileged (userns) mode"
        )
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    python = _unprivileged_python()
    if python is None:
        pytest.skip(f"no Python 3.11+ interpreter that uid {NOBODY} may execute")
    marker = "other-run-" + uuid.uuid4().hex
    arguments = {
        "data_file": targets.data_file,
        "socket": targets.socket,
        "tmpdir": targets.tmpdir,
        "marker": marker,
        "writes": json.dumps(targets.writes()),
    }
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "TMPDIR": "/tmp", "HOME": "/"}
    done = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", python]
        + [str(Path(escapes.__file__)), json.dumps(arguments)],
        capture_output=True,
        text=True,
        cwd="/",
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    if "skip" in seen:
        pytest.skip(f"unprivileged user namespaces are not available here: {seen['skip']}")
    assert seen["mode"] == "userns"
    assert seen["data_file"] == "refused: FileNotFoundError\n"
    assert marker not in seen["other_runs"] and seen["waiting"] == "done\n"
    assert seen["socket"] == "refused: FileNotFoundError\n"
    assert "wrote" not in seen["writes"] and seen["writes"].endswith("inside ok\n")
    assert not any(os.path.exists(path) for path in json.loads(arguments["writes"]))
    peak = escapes.peak_mib(seen["aggregate"])
    assert peak <= (MEMORY_LIMIT_BYTES >> 20) + SHARED_PAGES_MARGIN_MIB, seen
