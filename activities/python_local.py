"""The local Python sandbox: the model's code in namespaces of its own, without network.

Modes (probed once per worker by `detect`): "root" (namespaces and a uid of its own per run),
"userns" (an unprivileged user namespace, as in the Docker image's non-root user) or "" (not
isolated; the tool refuses to run code unless the operator allowed that).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
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

from activities import python_cgroup
from activities.python_cgroup import MemoryCgroups, RunCgroup

# Our note where an output stream was cut (not the reference's text).
PYTHON_OUTPUT_CUT = "\n[{dropped} more bytes of {stream} cut: the sandbox keeps the first {kept}]"

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
# Without a memory cgroup, RLIMIT_AS caps each process: the run gets this many processes (its
# interpreter included) of MEMORY_LIMIT_BYTES / FALLBACK_PROCESSES each, the same total.
FALLBACK_PROCESSES = 4
# What the sandbox sees of the host: these top-level directories read-only (symlinks, as merged
# /usr systems have them, copied as links), the interpreter's prefix when it lives elsewhere,
# and these files of /etc (copies); nothing else: no /home, /root, /tmp, /run, /var, no data
# directory, no other run's files, no host UNIX socket.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("passwd", "group", "nsswitch.conf", "localtime", "ld.so.cache", "mime.types")
DEVICES = ("null", "zero", "full", "random", "urandom")

# PID 1 of the sandbox's namespaces, as (namespace) root: a new root on a tmpfs holding only the
# SYSTEM_DIRS (read-only binds), a minimal /etc, the namespace's /proc, a few devices, the code
# and a private tmpfs as working directory (HOME and TMPDIR too); pivot_root into it, detach
# the host's root, make / read-only, then run the code as a child (not exec: as PID 1 it would
# ignore its own signals) and pass its status on.
_SETUP = (
    r"""
set -u
umask 022
dir=$1; opts=$2; prefix=$3; shift 3
fail() { echo "sandbox setup failed: $1" >&2; exit 111; }
new=$dir/root
mount -t tmpfs -o size=16m,mode=0755,nosuid,nodev sandbox-root "$new" || fail "cannot mount /"
bind() {
  mkdir -p "$new$1" || fail "cannot create $1"
  mount --bind "$1" "$new$1" 2>/dev/null || mount --rbind "$1" "$new$1" || fail "cannot bind $1"
  mount -o remount,bind,ro "$new$1" || fail "cannot make $1 read-only"
}
for top in {system}; do
  if [ -L "$top" ]; then ln -s "$(readlink "$top")" "$new$top"
  elif [ -d "$top" ]; then bind "$top"
  fi
done
[ -n "$prefix" ] && bind "$prefix"
mkdir "$new/etc" || fail "cannot create /etc"
for name in {etc}; do
  [ -f "/etc/$name" ] && cp -L "/etc/$name" "$new/etc/$name" 2>/dev/null
done
mkdir "$new/proc" && mount --rbind /proc "$new/proc" || fail "cannot mount /proc"
mkdir "$new/dev" && mount -t tmpfs -o size=64k,mode=0755,nosuid dev "$new/dev" \
  || fail "cannot mount /dev"
for name in {devices}; do
  : > "$new/dev/$name" && mount --bind "/dev/$name" "$new/dev/$name" \
    || fail "cannot bind /dev/$name"
done
for fd in 0:stdin 1:stdout 2:stderr; do ln -s "/proc/self/fd/${fd%%:*}" "$new/dev/${fd#*:}"; done
ln -s /proc/self/fd "$new/dev/fd"
mkdir "$new/dev/shm" && mount -t tmpfs -o size=16m,mode=1777,nosuid,nodev shm "$new/dev/shm" \
  || fail "cannot mount /dev/shm"
mount -o remount,bind,ro "$new/dev" || fail "cannot make /dev read-only"
mkdir -p "$new/tmp" "$new$dir/work" && cp "$dir/main.py" "$new$dir/main.py" \
  || fail "cannot copy the code"
mount -t tmpfs -o "$opts" sandbox "$new$dir/work" || fail "cannot mount the working directory"
mkdir "$new/.old-root" && cd "$new" && pivot_root . .old-root || fail "cannot pivot to the new root"
cd / && umount -l /.old-root && rmdir /.old-root || fail "cannot detach the host's root"
mount -o remount,bind,ro / || fail "cannot make / read-only"
cd "$dir/work" || fail "cannot enter the working directory"
unset OLDPWD PWD
"$@"
exit $?
""".replace("{system}", " ".join(SYSTEM_DIRS))
    .replace("{etc}", " ".join(ETC_FILES))
    .replace("{devices}", " ".join(DEVICES))
)
# Joins the run's memory cgroup, then becomes the sandbox's command.
_JOIN_CGROUP = 'echo $$ > "$0" && exec "$@"'

_TOOLS = ("prlimit", "unshare", "setpriv", "sh", "mount", "umount", "pivot_root", "cp")
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
KNOWN_SIGNALS = {
    signal.SIGKILL: "SIGKILL",
    signal.SIGXCPU: "SIGXCPU (CPU time limit)",
    signal.SIGXFSZ: "SIGXFSZ (file size limit)",
    signal.SIGSEGV: "SIGSEGV (segmentation fault)",
    signal.SIGBUS: "SIGBUS",
    signal.SIGABRT: "SIGABRT",
}
_uid_counter = itertools.count()


@dataclass(frozen=True)
class Isolation:
    """How this worker runs code locally: mode "root" (namespaces, a uid of its own per run),
    "userns" (an unprivileged user namespace) or "" (not isolated; `reason` says why)."""

    mode: str
    python: str
    tools: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    memory: MemoryCgroups | None = None  # where run cgroups go; None: the per-process fallback
    memory_reason: str = ""  # why there is no memory cgroup


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
class Run:
    """One finished (or killed) run: what it printed, how long it took, how it ended."""

    stdout: _Capture
    stderr: _Capture
    elapsed: float
    timed_out: bool
    signal: int | None  # a known signal that killed the code (not our timeout)
    memory: MemoryPlan = field(default_factory=lambda: MemoryPlan(MEMORY_LIMIT_BYTES, None))
    oom_kills: int = 0  # processes the run's cgroup killed for exceeding its cap


@dataclass(frozen=True)
class MemoryPlan:
    """How a run's memory is capped: `per_process` bytes of address space each and, where no
    cgroup caps the run as a whole, at most `processes` processes (so the same total)."""

    per_process: int
    processes: int | None


def memory_plan(iso: Isolation) -> MemoryPlan:
    if iso.memory is not None or not iso.mode:
        return MemoryPlan(MEMORY_LIMIT_BYTES, None)
    return MemoryPlan(MEMORY_LIMIT_BYTES // FALLBACK_PROCESSES, FALLBACK_PROCESSES)


async def detect() -> Isolation:
    """Whether (and how) code can be isolated on this machine: the first interpreter that prints
    from inside the namespaces wins (with a memory cgroup per run where one can be made, else
    without); the reason of the last failure otherwise."""
    unsafe = Isolation("", PYTHON_CANDIDATES[0])
    if sys.platform != "linux":
        return Isolation("", unsafe.python, reason=f"namespaces need Linux, not {sys.platform}")
    search = os.pathsep.join([os.environ.get("PATH", ""), _SYSTEM_PATH])
    tools = {name: shutil.which(name, path=search) for name in _TOOLS}
    missing = sorted(name for name, path in tools.items() if path is None)
    if missing:
        return Isolation("", unsafe.python, reason=f"util-linux tools missing: {missing}")
    mode = "root" if os.geteuid() == 0 else "userns"
    memory, memory_reason = await asyncio.to_thread(python_cgroup.find)
    options = [(memory, memory_reason)] if memory is None else [(memory, ""), (None, "")]
    reason = "no usable Python interpreter"
    for python in dict.fromkeys(PYTHON_CANDIDATES):  # ordered, without duplicates
        if not os.access(python, os.X_OK):
            continue
        for cgroups, why in options:
            if cgroups is None and memory is not None:
                why = f"joining {memory.parent} failed"
            found = {k: v for k, v in tools.items() if v}
            candidate = Isolation(mode, python, found, memory=cgroups, memory_reason=why)
            try:
                run = await execute(candidate, "print('isolated')", PROBE_TIMEOUT_S)
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


def _limits(
    timeout: float, processes: int, address_space: int = MEMORY_LIMIT_BYTES
) -> list[tuple[str, int, int, int]]:
    """(prlimit name, resource, soft, hard): CPU seconds just above the wall-clock limit."""
    cpu = math.ceil(timeout) + 1
    return [
        ("as", resource.RLIMIT_AS, address_space, address_space),
        ("cpu", resource.RLIMIT_CPU, cpu, cpu + 1),
        ("fsize", resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT_BYTES, FILE_SIZE_LIMIT_BYTES),
        ("nproc", resource.RLIMIT_NPROC, processes, processes),
        ("nofile", resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT, OPEN_FILES_LIMIT),
        ("core", resource.RLIMIT_CORE, 0, 0),
    ]


def _outside_prefix(python: str) -> str:
    """The interpreter's installation prefix when SYSTEM_DIRS do not already hold it (pyenv,
    conda, /opt/python...): it is bound read-only into the sandbox; "" otherwise."""
    prefix = os.path.dirname(os.path.dirname(os.path.realpath(python)))
    inside = any(prefix == top or prefix.startswith(top + "/") for top in SYSTEM_DIRS)
    return "" if inside or prefix in ("", "/") else prefix


def _isolated_command(
    iso: Isolation, root: str, script: str, timeout: float, memory: MemoryPlan
) -> list[str]:
    """prlimit -> unshare (net, pid, mount) -> setup as PID 1 -> setpriv -> python -I -S.
    Limits come from prlimit rather than preexec_fn, which is unsafe in a threaded worker."""
    tools = iso.tools
    window = memory.processes or PROCESS_LIMIT
    if iso.mode == "root":  # the uid is the run's own: RLIMIT_NPROC counts the code's tasks
        uid, processes = _sandbox_uid(), window
        users: list[str] = []
        drop = [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    else:  # the worker's uid: its tasks count, and this run's unshare, sh and waiter thread
        uid, processes = 0, _tasks_of(os.getuid()) + 3 + window
        users = ["--user", "--map-root-user"]
        drop = []
    limits = _limits(timeout, processes, memory.per_process)
    flags = [f"--{name}={soft}:{hard}" for name, _, soft, hard in limits]
    work = f"size={WORK_DIR_BYTES},nr_inodes=16384,mode=0700,uid={uid},gid={uid},nosuid,nodev"
    prefix = _outside_prefix(iso.python)
    return [
        *(tools["prlimit"], *flags, "--"),
        *(tools["unshare"], *users, "--net", "--pid", "--fork", "--kill-child", "--mount-proc"),
        *("--", tools["sh"], "-c", _SETUP, "sandbox-init", root, work, prefix),
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
    return number if number in KNOWN_SIGNALS else None


async def execute(iso: Isolation, code: str, timeout: float) -> Run:
    """Run `code` in a throwaway directory with an environment of its own (nothing of the
    worker's: no API keys), killing the whole process group at the wall-clock limit; isolated
    runs share one memory cgroup where the worker can make one."""
    root = tempfile.mkdtemp(prefix="deepresearch-python-")
    cgroup: RunCgroup | None = None
    try:
        os.chmod(root, 0o755)  # the sandbox's uid reads main.py; the work dir is its own
        work = os.path.join(root, "work")
        os.mkdir(work)
        os.mkdir(os.path.join(root, "root"))  # where the namespace mounts its new root
        script = os.path.join(root, "main.py")
        with open(script, "w", encoding="utf-8", errors="replace") as file:
            file.write(code)
        os.chmod(script, 0o644)
        env = {"PATH": _SYSTEM_PATH, "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work}
        memory = memory_plan(iso)
        if iso.mode:
            argv, preexec = _isolated_command(iso, root, script, timeout, memory), None
            if iso.memory is not None:
                cgroup = await asyncio.to_thread(iso.memory.create, MEMORY_LIMIT_BYTES)
                argv = [iso.tools["sh"], "-c", _JOIN_CGROUP, cgroup.procs, *argv]
        else:
            processes = PROCESS_LIMIT + (_tasks_of(os.getuid()) if sys.platform == "linux" else 0)
            argv = [iso.python, "-I", "-S", script]
            preexec = _limit_self(_limits(timeout, processes))
        run = await _supervise(argv, env, work, preexec, timeout, isolated=bool(iso.mode))
        run.memory = memory
        if cgroup is not None:
            run.oom_kills = cgroup.oom_kills()
        return run
    finally:
        if cgroup is not None:
            await asyncio.to_thread(cgroup.remove)
        shutil.rmtree(root, ignore_errors=True)


async def _supervise(
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    preexec: Callable[[], None] | None,
    timeout: float,
    *,
    isolated: bool,
) -> Run:
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
    return Run(stdout, stderr, elapsed, timed_out, killed)
