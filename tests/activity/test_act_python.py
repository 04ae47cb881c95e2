"""PythonInterpreter: SandboxFusion formatting, endpoint rotation and error classes over real HTTP;
the local sandbox running real code, and every escape attempt contained."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import python_exec
from activities.context import ToolContext
from activities.errors import ToolError
from activities.python_exec import (
    PYTHON_ENDPOINT_TIMEOUT,
    PYTHON_FINISHED,
    PYTHON_RUN_TIMEOUT,
    Isolation,
    local_sandbox,
    python,
    run_python,
    sandbox_fusion,
)
from graphs import prompts
from tests.fakes.sandboxfusion import FakeSandboxFusion

TIMEOUT = 3.0  # python_timeout_seconds in these tests: runs of >= 2 s get the timeout line
SHORT = 1.5  # for the runs that are meant to time out
SECRET = "sk-test-secret-" + uuid.uuid4().hex


def _env(attempt: int, maximum: int = 3) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = replace(
        env.info, attempt=attempt, retry_policy=RetryPolicy(maximum_attempts=maximum)
    )
    return env


def _task(code: str) -> dict[str, object]:
    return {"call_id": "call-1", "index": 0, "code": code}


@pytest.fixture
def fusion() -> Iterator[FakeSandboxFusion]:
    with FakeSandboxFusion() as fake:
        yield fake


@pytest.fixture
def remote(tools: ToolContext, fusion: FakeSandboxFusion) -> ToolContext:
    return replace(tools, sandbox_fusion_urls=(fusion.url,), python_timeout_seconds=TIMEOUT)


# -- SandboxFusion: the reference's formatting ------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"stdout": "2\n"}, "stdout:\n2\n"),
        ({"stderr": "Traceback\nZeroDivisionError\n"}, "stderr:\nTraceback\nZeroDivisionError\n"),
        ({"stdout": "out\n", "stderr": "err\n"}, "stdout:\nout\n\nstderr:\nerr\n"),
        ({"stdout": None, "stderr": None}, PYTHON_FINISHED),
        ({"stdout": "", "stderr": ""}, PYTHON_FINISHED),
        ({"stdout": "a\n", "execution_time": TIMEOUT - 1}, "stdout:\na\n\n" + PYTHON_RUN_TIMEOUT),
        ({"execution_time": TIMEOUT - 1.01}, PYTHON_FINISHED),
        ({"execution_time": None}, PYTHON_FINISHED),
        ({"run_status": "TimeLimitExceeded", "execution_time": None}, PYTHON_RUN_TIMEOUT),
    ],
    ids=[
        "stdout",
        "stderr",
        "both",
        "none",
        "empty",
        "near-timeout",
        "just-under",
        "no-time",
        "tle",
    ],
)
async def test_fusion_formats_like_the_reference(
    remote: ToolContext, fusion: FakeSandboxFusion, answer: dict[str, object], expected: str
) -> None:
    fusion.results["code"] = FakeSandboxFusion.answer(**answer)  # type: ignore[arg-type]
    assert await sandbox_fusion(remote, "code") == expected


async def test_fusion_request_payload(remote: ToolContext, fusion: FakeSandboxFusion) -> None:
    assert await run_python(remote, "print(1)\nprint(2)") == "stdout:\nran: print(1)\n"
    (record,) = fusion.records()
    assert (record.method, record.path) == ("POST", "/run_code")
    assert record.body == {"code": "print(1)\nprint(2)", "language": "python", "run_timeout": 3.0}


async def test_empty_code_is_the_format_error(
    remote: ToolContext, fusion: FakeSandboxFusion
) -> None:
    assert await run_python(remote, "  \n") == prompts.PYTHON_FORMAT_ERROR
    assert fusion.records() == []


async def test_endpoints_rotate_across_attempts(tools: ToolContext) -> None:
    with FakeSandboxFusion() as a, FakeSandboxFusion() as b, FakeSandboxFusion() as c:
        ctx = replace(tools, sandbox_fusion_urls=(a.url, b.url + "/", c.url))
        for attempt in range(1, 5):
            await _env(attempt, 5).run(sandbox_fusion, ctx, f"print({attempt})")
        await sandbox_fusion(ctx, "outside")  # outside an activity: the first endpoint
        assert a.codes() == ["print(1)", "print(4)", "outside"]
        assert b.codes() == ["print(2)"]
        assert c.codes() == ["print(3)"]


async def test_503_retries_then_falls_back(
    remote: ToolContext, fusion: FakeSandboxFusion, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(remote)
    fusion.fail_next(2, 503)
    with pytest.raises(ApplicationError) as caught:
        await sandbox_fusion(remote, "x")
    assert not caught.value.non_retryable and "HTTP 503" in str(caught.value)
    with pytest.raises(ApplicationError):  # not the last attempt: Temporal retries
        await _env(1, 3).run(python, _task("x"))
    assert len(fusion.records()) == 2
    result = await _env(3, 3).run(python, _task("x"))  # the last attempt answers
    assert result["observations"][0]["text"] == "stdout:\nran: x\n"
    fusion.fail_next(1, 503)
    result = await _env(3, 3).run(python, _task("x"))
    text = result["observations"][0]["text"]
    assert text == PYTHON_ENDPOINT_TIMEOUT.format(endpoint=fusion.url)


async def test_400_is_not_retried(
    remote: ToolContext, fusion: FakeSandboxFusion, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(remote)
    fusion.fail_next(1, 400, body='{"detail": "bad request"}')
    result = await _env(1, 3).run(python, _task("x"))
    text = result["observations"][0]["text"]
    assert text.startswith("[PythonInterpreter] failed: ")
    assert f"SandboxFusion {fusion.url} answered HTTP 400" in text
    assert len(fusion.records()) == 1


async def test_sandbox_error_retries(remote: ToolContext, fusion: FakeSandboxFusion) -> None:
    fusion.results["x"] = FakeSandboxFusion.answer(status="SandboxError", message="pod gone")
    with pytest.raises(ApplicationError, match="pod gone") as caught:
        await sandbox_fusion(remote, "x")
    assert not caught.value.non_retryable


async def test_hung_endpoint_times_out(
    remote: ToolContext, fusion: FakeSandboxFusion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(python_exec, "CLIENT_TIMEOUT_MARGIN_S", 0.0)
    ctx = replace(remote, python_timeout_seconds=0.3)
    fusion.hang_next(1)
    with pytest.raises(ApplicationError, match="Timeout") as caught:
        await sandbox_fusion(ctx, "x")
    assert not caught.value.non_retryable


# -- local sandbox ----------------------------------------------------------------------------


def _stragglers() -> list[str]:
    """Processes a sandbox could leave: children of this process, or of a sandbox uid."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            uid = entry.stat().st_uid
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        sandbox_uid = 0 <= uid - python_exec.SANDBOX_UID_BASE < python_exec.SANDBOX_UID_SPAN
        if ppid == os.getpid() or sandbox_uid:
            found.append(f"{entry.name} uid={uid} {stat[:60]}")
    return found


@pytest.fixture
async def local(tools: ToolContext) -> AsyncIterator[ToolContext]:
    """A context without SandboxFusion; afterwards nothing the sandbox started may be alive."""
    yield replace(tools, python_timeout_seconds=TIMEOUT)
    deadline = time.monotonic() + 3
    while (left := _stragglers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []


@pytest.fixture
async def isolated(local: ToolContext) -> ToolContext:
    iso = await python_exec.isolation()
    if not iso.mode:
        pytest.skip(f"no isolation on this machine: {iso.reason}")
    return local


async def test_print_works(isolated: ToolContext) -> None:
    assert await local_sandbox(isolated, "print(1+1)") == "stdout:\n2\n"
    assert await local_sandbox(isolated, "x = 1") == PYTHON_FINISHED


async def test_stderr_and_exceptions(isolated: ToolContext) -> None:
    code = "import sys\nprint('out')\nprint('err', file=sys.stderr)"
    assert await local_sandbox(isolated, code) == "stdout:\nout\n\nstderr:\nerr\n"
    text = await local_sandbox(isolated, "print('before')\n1/0")
    assert text.startswith("stdout:\nbefore\n\nstderr:\nTraceback (most recent call last):\n")
    assert text.endswith("ZeroDivisionError: division by zero\n")


async def test_node_runs_locally(
    isolated: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(isolated)
    result = await python(_task("print(sum(range(10)))"))
    assert result["observations"] == [{"call_id": "call-1", "index": 0, "text": "stdout:\n45\n"}]


async def test_no_network_even_to_loopback(isolated: ToolContext) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError as error:\n"
            "    print('blocked:', error)\n"
        )
        text = await local_sandbox(isolated, code)
        assert text.startswith("stdout:\nblocked: ") and "connected" not in text
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever arrived


async def test_no_secrets_in_the_environment(
    isolated: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERPER_API_KEY", SECRET)
    code = (
        "import os\n"
        "print(sorted(os.environ))\n"
        f"for pid in (1, {os.getpid()}):\n"
        "    try:\n"
        "        print(pid, open(f'/proc/{pid}/environ').read())\n"
        "    except OSError as error:\n"
        "        print(pid, type(error).__name__)\n"
    )
    text = await local_sandbox(isolated, code)
    assert "stdout:\n['HOME', 'LANG', 'PATH', 'TMPDIR']\n" in text
    assert SECRET not in text and "SERPER_API_KEY" not in text


async def test_writes_outside_the_work_dir_fail(isolated: ToolContext) -> None:
    name = f"escape-{uuid.uuid4().hex}"
    targets = [f"/tmp/{name}", f"/root/{name}", f"/etc/{name}", f"{os.getcwd()}/{name}"]
    code = (
        "import os\n"
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print('wrote', path)\n"
        "    except OSError as error:\n"
        "        print('refused', type(error).__name__)\n"
        "open('inside.txt', 'w').write('ok')\n"
        "print('inside', open('inside.txt').read(), os.getcwd())\n"
    )
    text = await local_sandbox(isolated, code)
    assert "wrote" not in text and text.count("refused") == len(targets)
    assert all(not os.path.exists(path) for path in targets)
    work = text.rsplit("inside ok ", 1)[1].strip()
    assert not os.path.exists(work)  # the throwaway directory is gone


async def test_fork_bomb_is_contained(isolated: ToolContext) -> None:
    code = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    started = time.monotonic()
    text = await local_sandbox(replace(isolated, python_timeout_seconds=SHORT), code)
    assert time.monotonic() - started < SHORT + 2
    assert text.endswith(PYTHON_RUN_TIMEOUT)
    # the machine still forks, and so does the next run
    after = (
        "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint(os.waitpid(pid, 0)[1])"
    )
    assert await local_sandbox(isolated, after) == "stdout:\n0\n"


@pytest.mark.parametrize(
    "code",
    [
        "x = bytearray(10 * 1024**3)",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(256 * 1024**2))",
    ],
    ids=["10GB-at-once", "growing"],
)
async def test_memory_bomb_is_refused(isolated: ToolContext, code: str) -> None:
    # filling 1 GiB can take seconds on a slow machine: no timeout line in this test
    text = await local_sandbox(replace(isolated, python_timeout_seconds=20), code)
    assert text.startswith("stderr:\nTraceback") and "\nMemoryError\n" in text
    assert text.endswith("The sandbox allows 1024 MiB of memory.")


async def test_infinite_loop_is_killed_at_the_timeout(isolated: ToolContext) -> None:
    short = replace(isolated, python_timeout_seconds=SHORT)
    started = time.monotonic()
    assert await local_sandbox(short, "while True:\n    pass") == PYTHON_RUN_TIMEOUT
    assert SHORT - 0.1 < time.monotonic() - started < SHORT + 2
    text = await local_sandbox(short, "print('start', flush=True)\nwhile True:\n    pass")
    assert text == "stdout:\nstart\n\n" + PYTHON_RUN_TIMEOUT


async def test_cancelled_run_is_killed(isolated: ToolContext) -> None:
    run = asyncio.ensure_future(local_sandbox(isolated, "import time\ntime.sleep(60)"))
    await asyncio.sleep(0.5)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run  # the `local` fixture then checks that nothing was left running


async def test_killed_by_signal_is_reported(isolated: ToolContext) -> None:
    text = await local_sandbox(isolated, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    assert text.startswith("stderr:\n")
    assert text.endswith(
        "\n[Python Interpreter Error] The process was killed by SIGSEGV (segmentation fault)."
    )


async def test_output_is_capped(isolated: ToolContext) -> None:
    text = await local_sandbox(isolated, "print('x' * 300_000)")
    kept = python_exec.OUTPUT_LIMIT_BYTES
    note = f"[200001 more bytes of stdout cut: the sandbox keeps the first {kept}]"
    assert text == f"stdout:\n{'x' * kept}\n{note}"


async def test_unisolated_machine_refuses_unless_allowed(
    local: ToolContext,
    monkeypatch: pytest.MonkeyPatch,
    install: Callable[[ToolContext], ToolContext],
) -> None:
    unsafe = Isolation("", os.path.realpath(sys.executable), reason="test: no namespaces")
    monkeypatch.setattr(python_exec, "_isolation", unsafe)
    monkeypatch.setenv("SERPER_API_KEY", SECRET)
    with pytest.raises(ToolError, match="DEEPRESEARCH_PYTHON_ALLOW_NETWORK=1"):
        await local_sandbox(local, "print(1)")
    install(local)
    text = (await python(_task("print(1)")))["observations"][0]["text"]
    assert text.startswith("[PythonInterpreter] the local Python sandbox cannot be isolated")
    assert "test: no namespaces" in text
    allowed = replace(local, python_allow_network=True)
    assert await local_sandbox(allowed, "print(1+1)") == "stdout:\n2\n"
    text = await local_sandbox(allowed, "import os\nprint(sorted(os.environ))")
    assert text == "stdout:\n['HOME', 'LANG', 'PATH', 'TMPDIR']\n"
    short = replace(allowed, python_timeout_seconds=SHORT)
    assert await local_sandbox(short, "while True:\n    pass") == PYTHON_RUN_TIMEOUT
