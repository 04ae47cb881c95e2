"""PythonInterpreter: the model's code on SandboxFusion, or in a local sandbox without network."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ToolContext, current
from activities.errors import ToolError, from_transport, raise_for_http
from activities.outcome import observe
from graphs import prompts

logger = logging.getLogger(__name__)

# The output and error texts below are reproduced verbatim from Alibaba-NLP/DeepResearch
# (https://github.com/Alibaba-NLP/DeepResearch, Apache License 2.0), inference/tool_python.py
# at commit f72f75d8c3eb842f2bbbab096a12206ff66e270f (PythonInterpreter.call); see NOTICE.
# The model was trained on these bytes: keep them exactly ("PythonInterpreter Error" in the
# run timeout, "Python Interpreter Error" in the others, as upstream has them).
PYTHON_STDOUT = "stdout:\n{stdout}"
PYTHON_STDERR = "stderr:\n{stderr}"
PYTHON_RUN_TIMEOUT = "[PythonInterpreter Error] TimeoutError: Execution timed out."
PYTHON_FINISHED = "Finished execution."
PYTHON_ENDPOINT_TIMEOUT = (
    "[Python Interpreter Error] TimeoutError: Execution timed out on endpoint {endpoint}."
)
# Upstream's text for any other client error; here such errors are classified instead (a 4xx
# answers "[PythonInterpreter] failed: ..." through tool_outcome). Kept for reference.
PYTHON_ENDPOINT_ERROR = "[Python Interpreter Error]: {error} on endpoint {endpoint}"
PYTHON_ALL_FAILED = "[Python Interpreter Error]: All attempts failed."
# Our own texts (not the reference's).
PYTHON_NOT_ISOLATED = (
    "the local Python sandbox cannot be isolated on this worker ({reason}); configure a "
    "SandboxFusion service (SANDBOX_FUSION_URL) or set DEEPRESEARCH_PYTHON_ALLOW_NETWORK=1 to "
    "run code without isolation (network, files and processes of the worker open to it)"
)
PYTHON_OUTPUT_CUT = "\n[{dropped} more bytes of {stream} cut: the sandbox keeps the first {kept}]"
PYTHON_KILLED = "[Python Interpreter Error] The process was killed by {signal}."
PYTHON_MEMORY_HINT = "[Python Interpreter Error] The sandbox allows {limit} MiB of memory."

# SandboxFusion can take run_timeout plus its own start-up and queueing before it answers.
CLIENT_TIMEOUT_MARGIN_S = 10.0

# Local sandbox limits (per run).
MEMORY_LIMIT_BYTES = 1 << 30  # address space: a larger allocation is a MemoryError
FILE_SIZE_LIMIT_BYTES = 64 << 20
WORK_DIR_BYTES = 128 << 20  # the private tmpfs the code runs in
PROCESS_LIMIT = 64  # tasks of the sandbox's uid (RLIMIT_NPROC)
OPEN_FILES_LIMIT = 1024
OUTPUT_LIMIT_BYTES = 100_000  # kept of stdout and of stderr each
PROBE_TIMEOUT_S = 10.0
READER_GRACE_S = 2.0  # after the process ends, how long its pipes may stay open
# Runs as root get a uid of their own from this range, so RLIMIT_NPROC counts one run's
# processes only (a fork bomb cannot starve concurrent runs) and nothing on the host is theirs.
SANDBOX_UID_BASE = 2_000_000_000
SANDBOX_UID_SPAN = 1_000_000
# Interpreters tried (in order) by the isolation probe; only the standard library is needed.
PYTHON_CANDIDATES = (os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3")
# Directories that commonly hold credentials, hidden under an empty read-only tmpfs.
HIDDEN_DIRS = ("/root", "/home", "/run/secrets", "/var/run/secrets")

# PID 1 of the sandbox's namespaces, as (namespace) root: everything read-only, credential
# directories hidden, a private tmpfs as working directory; then the code runs as a child
# (not exec: as PID 1 it would ignore its own signals) and its status is passed on.
_SETUP = r"""
set -u
dir=$1; opts=$2; shift 2
fail() { echo "sandbox setup failed: $1" >&2; exit 111; }
mount -o remount,bind,ro / || fail "cannot make / read-only"
while read -r _ _ _ _ target _; do
  mount -o remount,bind,ro "$(printf '%b' "$target")" 2>/dev/null
done < /proc/self/mountinfo
for hidden in {hidden}; do
  [ -d "$hidden" ] && mount -t tmpfs -o ro,size=4k,mode=0555 hidden "$hidden" 2>/dev/null
done
mount -t tmpfs -o size=16m,mode=1777,nosuid,nodev shm /dev/shm 2>/dev/null
mount -t tmpfs -o "$opts" sandbox "$dir/work" || fail "cannot mount the working directory"
cd "$dir/work" || fail "cannot enter the working directory"
unset OLDPWD PWD
"$@"
exit $?
""".replace("{hidden}", " ".join(HIDDEN_DIRS))

_TOOLS = ("prlimit", "unshare", "setpriv", "sh")
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_KNOWN_SIGNALS = {
    signal.SIGKILL: "SIGKILL",
    signal.SIGXCPU: "SIGXCPU (CPU time limit)",
    signal.SIGXFSZ: "SIGXFSZ (file size limit)",
    signal.SIGSEGV: "SIGSEGV (segmentation fault)",
    signal.SIGBUS: "SIGBUS",
    signal.SIGABRT: "SIGABRT",
}
_uid_counter = itertools.count()


# -- formatting (shared by both back ends) ----------------------------------------------------


def format_run(
    stdout: str | None, stderr: str | None, execution_time: float | None, timeout: float
) -> str:
    """The reference's observation: stdout, stderr, then the timeout line when the run took
    at least timeout - 1 seconds; 'Finished execution.' when all of that is empty."""
    parts = []
    if stdout:
        parts.append(PYTHON_STDOUT.format(stdout=stdout))
    if stderr:
        parts.append(PYTHON_STDERR.format(stderr=stderr))
    if execution_time is not None and execution_time >= timeout - 1:
        parts.append(PYTHON_RUN_TIMEOUT)
    text = "\n".join(parts)
    return text if text.strip() else PYTHON_FINISHED


# -- SandboxFusion ----------------------------------------------------------------------------


def pick_endpoint(urls: tuple[str, ...]) -> str:
    """Another endpoint on each Temporal retry (the reference samples one per attempt)."""
    attempt = activity.info().attempt if activity.in_activity() else 1
    return urls[(max(attempt, 1) - 1) % len(urls)]


def _run_result(service: str, body: Any) -> dict[str, Any]:
    """The run_result of a /run_code answer; a sandbox-side error retries (on another
    endpoint), as the reference retries any exception of its client."""
    if not isinstance(body, dict):
        raise ApplicationError(f"{service} answered no JSON object", type="SandboxFusionResponse")
    if body.get("status") == "SandboxError":
        message = f"Sandbox responded with error: {body.get('message', '')}"
        raise ApplicationError(f"{service}: {message}"[:500], type="SandboxError")
    run = body.get("run_result")
    if not isinstance(run, dict):
        raise ApplicationError(f"{service} answered without a run_result", type="SandboxFusion")
    return run


async def sandbox_fusion(ctx: ToolContext, code: str) -> str:
    """Run `code` on SandboxFusion's /run_code; HTTP failures raise classified errors."""
    if not ctx.sandbox_fusion_urls:
        raise ToolError("no SandboxFusion endpoint configured: set SANDBOX_FUSION_URL")
    endpoint = pick_endpoint(ctx.sandbox_fusion_urls)
    service = f"SandboxFusion {endpoint}"
    timeout = ctx.python_timeout_seconds
    payload = {"code": code, "language": "python", "run_timeout": timeout}
    try:
        response = await ctx.http.post(
            f"{endpoint.rstrip('/')}/run_code",
            json=payload,
            timeout=timeout + CLIENT_TIMEOUT_MARGIN_S,
        )
    except httpx.HTTPError as error:
        raise from_transport(service, error) from error
    raise_for_http(service, response)
    try:
        body = response.json()
    except ValueError:
        body = None
    run = _run_result(service, body)
    execution_time = run.get("execution_time")
    if not isinstance(execution_time, int | float):
        execution_time = None
    if run.get("status") == "TimeLimitExceeded":  # killed at run_timeout, whatever it measured
        execution_time = max(execution_time or 0.0, timeout)
    return format_run(run.get("stdout"), run.get("stderr"), execution_time, timeout)


# -- local sandbox ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Isolation:
    """How this worker runs code locally: mode "root" (namespaces, a uid of its own per run),
    "userns" (an unprivileged user namespace) or "" (not isolated; `reason` says why)."""

    mode: str
    python: str
    tools: dict[str, str] = field(default_factory=dict)
    reason: str = ""


@dataclass
class _Capture:
    """One output stream, kept up to OUTPUT_LIMIT_BYTES (what is read is kept on cancel)."""

    kept: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def text(self, stream: str) -> str:
        text = self.kept.decode("utf-8", errors="replace")
        if self.dropped:
            text += PYTHON_OUTPUT_CUT.format(
                dropped=self.dropped, stream=stream, kept=OUTPUT_LIMIT_BYTES
            )
        return text


@dataclass
class _Run:
    stdout: _Capture
    stderr: _Capture
    elapsed: float
    timed_out: bool
    signal: int | None  # a known signal that killed the code (not our timeout)


_isolation: Isolation | None = None


async def isolation() -> Isolation:
    """Whether (and how) code can be isolated here, probed once per process."""
    global _isolation
    if _isolation is None:
        _isolation = await _detect()
        if _isolation.mode:
            logger.info("local Python sandbox: %s isolation", _isolation.mode)
        else:
            logger.warning("local Python sandbox cannot be isolated: %s", _isolation.reason)
    return _isolation


async def _detect() -> Isolation:
    unsafe = Isolation("", PYTHON_CANDIDATES[0])
    if sys.platform != "linux":
        return Isolation("", unsafe.python, reason=f"namespaces need Linux, not {sys.platform}")
    search = os.pathsep.join([os.environ.get("PATH", ""), _SYSTEM_PATH])
    tools = {name: shutil.which(name, path=search) for name in _TOOLS}
    missing = sorted(name for name, path in tools.items() if path is None)
    if missing:
        return Isolation("", unsafe.python, reason=f"util-linux tools missing: {missing}")
    mode = "root" if os.geteuid() == 0 else "userns"
    reason = "no usable Python interpreter"
    for python in dict.fromkeys(PYTHON_CANDIDATES):  # ordered, without duplicates
        if not os.access(python, os.X_OK):
            continue
        candidate = Isolation(mode, python, {k: v for k, v in tools.items() if v})
        try:
            run = await _execute(candidate, "print('isolated')", PROBE_TIMEOUT_S)
        except OSError as error:
            reason = f"{type(error).__name__}: {error}"
            continue
        if bytes(run.stdout.kept) == b"isolated\n":
            return candidate
        lines = run.stderr.text("stderr").strip().splitlines() or ["no output"]
        reason = f"{mode} namespaces: {lines[-1][:300]}"
    return Isolation("", unsafe.python, reason=reason)


def _sandbox_uid() -> int:
    return SANDBOX_UID_BASE + (os.getpid() * 1000 + next(_uid_counter)) % SANDBOX_UID_SPAN


def _tasks_of(uid: int) -> int:
    """Tasks (threads included) of `uid`: RLIMIT_NPROC counts them all, worker included."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
    return count


def _limits(timeout: float, processes: int) -> list[tuple[str, int, int, int]]:
    """(prlimit name, resource, soft, hard): CPU seconds just above the wall-clock limit."""
    cpu = math.ceil(timeout) + 1
    return [
        ("as", resource.RLIMIT_AS, MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES),
        ("cpu", resource.RLIMIT_CPU, cpu, cpu + 1),
        ("fsize", resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT_BYTES, FILE_SIZE_LIMIT_BYTES),
        ("nproc", resource.RLIMIT_NPROC, processes, processes),
        ("nofile", resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT, OPEN_FILES_LIMIT),
        ("core", resource.RLIMIT_CORE, 0, 0),
    ]


def _isolated_command(iso: Isolation, root: str, script: str, timeout: float) -> list[str]:
    """prlimit -> unshare (net, pid, mount) -> setup as PID 1 -> setpriv -> python -I -S.
    Limits come from prlimit rather than preexec_fn, which is unsafe in a threaded worker."""
    tools = iso.tools
    if iso.mode == "root":
        uid, processes = _sandbox_uid(), PROCESS_LIMIT
        users: list[str] = []
        drop = [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    else:  # the namespace's root is the worker's uid, which also owns the worker's tasks
        uid, processes = 0, _tasks_of(os.getuid()) + PROCESS_LIMIT
        users = ["--user", "--map-root-user"]
        drop = []
    limits = [f"--{name}={soft}:{hard}" for name, _, soft, hard in _limits(timeout, processes)]
    work = f"size={WORK_DIR_BYTES},nr_inodes=16384,mode=0700,uid={uid},gid={uid},nosuid,nodev"
    return [
        *(tools["prlimit"], *limits, "--"),
        *(tools["unshare"], *users, "--net", "--pid", "--fork", "--kill-child", "--mount-proc"),
        *("--", tools["sh"], "-c", _SETUP, "sandbox-init", root, work),
        *(tools["setpriv"], *drop, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"),
        *("--", iso.python, "-I", "-S", script),
    ]


def _limit_self(limits: list[tuple[str, int, int, int]]) -> Callable[[], None]:
    """preexec_fn for the unisolated run (an explicit opt-in; prlimit may not exist there)."""

    def apply() -> None:
        for _, which, soft, hard in limits:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(which, (soft, hard))

    return apply


async def _read(stream: asyncio.StreamReader | None, capture: _Capture) -> None:
    while stream is not None and (chunk := await stream.read(65536)):
        room = max(0, OUTPUT_LIMIT_BYTES - len(capture.kept))
        capture.kept += chunk[:room]
        capture.dropped += max(0, len(chunk) - room)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _killed_by(returncode: int | None, isolated: bool) -> int | None:
    """A known signal that ended the code: PID 1 of the namespace reports it as 128 + N."""
    if returncode is None:
        return None
    number = returncode - 128 if isolated and returncode > 128 else -returncode
    return number if number in _KNOWN_SIGNALS else None


async def _execute(iso: Isolation, code: str, timeout: float) -> _Run:
    """Run `code` in a throwaway directory with an environment of its own (nothing of the
    worker's: no API keys), killing the whole process group at the wall-clock limit."""
    root = tempfile.mkdtemp(prefix="deepresearch-python-")
    try:
        os.chmod(root, 0o755)  # the sandbox's uid reads main.py; the work dir is its own
        work = os.path.join(root, "work")
        os.mkdir(work)
        script = os.path.join(root, "main.py")
        with open(script, "w", encoding="utf-8", errors="replace") as file:
            file.write(code)
        os.chmod(script, 0o644)
        env = {"PATH": _SYSTEM_PATH, "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work}
        if iso.mode:
            argv, preexec = _isolated_command(iso, root, script, timeout), None
        else:
            processes = PROCESS_LIMIT + (_tasks_of(os.getuid()) if sys.platform == "linux" else 0)
            argv = [iso.python, "-I", "-S", script]
            preexec = _limit_self(_limits(timeout, processes))
        return await _supervise(argv, env, work, preexec, timeout, isolated=bool(iso.mode))
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _supervise(
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    preexec: Callable[[], None] | None,
    timeout: float,
    *,
    isolated: bool,
) -> _Run:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=preexec,
    )
    stdout, stderr = _Capture(), _Capture()
    readers = [
        asyncio.ensure_future(_read(process.stdout, stdout)),
        asyncio.ensure_future(_read(process.stderr, stderr)),
    ]
    timed_out = False
    try:
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            timed_out = True
            _kill_group(process)
            await process.wait()
        elapsed = time.monotonic() - started
    finally:
        if process.returncode is None:  # cancelled: the activity is gone, so is the code
            _kill_group(process)
            await process.wait()
        if not isolated:  # children left behind (in isolation PID 1's exit ended them)
            _kill_group(process)
        _, pending = await asyncio.wait(readers, timeout=READER_GRACE_S)
        for reader in pending:
            reader.cancel()
    killed = None if timed_out else _killed_by(process.returncode, isolated)
    return _Run(stdout, stderr, elapsed, timed_out, killed)


def _format_local(run: _Run, timeout: float) -> str:
    stderr = run.stderr.text("stderr")
    notes = []
    last = stderr.rstrip().rsplit("\n", 1)[-1]
    if last.startswith("MemoryError"):
        notes.append(PYTHON_MEMORY_HINT.format(limit=MEMORY_LIMIT_BYTES >> 20))
    if run.signal is not None:
        notes.append(PYTHON_KILLED.format(signal=_KNOWN_SIGNALS[signal.Signals(run.signal)]))
    if notes:
        separator = "\n" if stderr and not stderr.endswith("\n") else ""
        stderr += separator + "\n".join(notes)
    elapsed = max(run.elapsed, timeout) if run.timed_out else run.elapsed
    return format_run(run.stdout.text("stdout"), stderr, elapsed, timeout)


async def local_sandbox(ctx: ToolContext, code: str) -> str:
    """Run `code` in a separate interpreter without network, secrets or write access outside
    its own directory; refuses (ToolError) where that cannot be had, unless allowed."""
    iso = await isolation()
    if not iso.mode and not ctx.python_allow_network:
        raise ToolError(PYTHON_NOT_ISOLATED.format(reason=iso.reason))
    try:
        run = await _execute(iso, code, ctx.python_timeout_seconds)
    except OSError as error:  # could not start (e.g. out of processes): maybe next time
        raise ApplicationError(
            f"local Python sandbox could not start: {error}", type="SandboxStart"
        ) from error
    return _format_local(run, ctx.python_timeout_seconds)


# -- the tool and its graph node ------------------------------------------------------------


async def run_python(ctx: ToolContext, code: str) -> str:
    """SandboxFusion when endpoints are configured, else the local sandbox."""
    if not code.strip():
        return prompts.PYTHON_FORMAT_ERROR
    if ctx.sandbox_fusion_urls:
        return await sandbox_fusion(ctx, code)
    return await local_sandbox(ctx, code)


def _fallback(ctx: ToolContext) -> str:
    """What the last attempt answers when the sandbox still fails (retryably): the
    reference's text for its usual give-up, a timeout on this attempt's endpoint."""
    if ctx.sandbox_fusion_urls:
        return PYTHON_ENDPOINT_TIMEOUT.format(endpoint=pick_endpoint(ctx.sandbox_fusion_urls))
    return PYTHON_ALL_FAILED


async def python(task: dict[str, Any]) -> dict[str, Any]:
    """Graph node: one PythonInterpreter call."""
    ctx = current()
    work = run_python(ctx, task["code"])
    return await observe(task, work, fallback=_fallback(ctx), label="PythonInterpreter")
