"""A memory cgroup per sandbox run, so that its processes share one memory cap.

RLIMIT_AS caps one process; a run that forks four processes could take four times that. A
cgroup caps them together: cgroup v2 where the worker's own cgroup has the memory controller
delegated to its children, else the cgroup v1 memory hierarchy. Both need write access to the
worker's cgroup directory, which root on a host (or in a container given its cgroup) has and an
unprivileged container user usually has not; `find` says None then and the sandbox falls back
to a per-process cap that accounts for the process count (see python_local).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass

_counter = itertools.count()
REMOVE_WAIT_S = 2.0  # how long a finished run's cgroup may take to empty before it is left


@dataclass(frozen=True)
class MemoryCgroups:
    """Where run cgroups are made: `parent` is a cgroup directory of hierarchy `version`."""

    version: int
    parent: str

    def create(self, limit: int) -> RunCgroup:
        """A new child cgroup capped at `limit` bytes of memory, swap included."""
        path = os.path.join(self.parent, f"deepresearch-sandbox-{os.getpid()}-{next(_counter)}")
        os.mkdir(path)
        try:
            if self.version == 2:
                _write(os.path.join(path, "memory.max"), str(limit))
                _write_if_present(os.path.join(path, "memory.swap.max"), "0")
            else:
                _write(os.path.join(path, "memory.limit_in_bytes"), str(limit))
                _write_if_present(os.path.join(path, "memory.memsw.limit_in_bytes"), str(limit))
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(path)
            raise
        return RunCgroup(self.version, path)


@dataclass(frozen=True)
class RunCgroup:
    """One run's cgroup: processes join it by writing their pid to `procs`."""

    version: int
    path: str

    @property
    def procs(self) -> str:
        return os.path.join(self.path, "cgroup.procs")

    def oom_kills(self) -> int:
        """How many of the run's processes the kernel killed for exceeding the cap."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            with open(os.path.join(self.path, name), encoding="ascii") as file:
                for line in file:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> bool:
        """Kill what is left in the cgroup and remove it; False if it would not empty in time."""
        deadline = time.monotonic() + REMOVE_WAIT_S
        while True:
            for pid in _pids(self.procs):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            try:
                os.rmdir(self.path)
                return True
            except FileNotFoundError:
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.02)


def _write(path: str, value: str) -> None:
    with open(path, "w", encoding="ascii") as file:
        file.write(value)


def _write_if_present(path: str, value: str) -> None:
    if os.path.exists(path):
        _write(path, value)


def _pids(procs: str) -> list[int]:
    try:
        with open(procs, encoding="ascii") as file:
            return [int(line) for line in file if line.strip()]
    except (OSError, ValueError):
        return []


def _own_cgroups() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    found: dict[str, str] = {}
    with open("/proc/self/cgroup", encoding="utf-8") as file:
        for line in file:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                found[controller] = path
    return found


def _mounts() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fs type, super options) of every cgroup mount."""
    mounts = []
    with open("/proc/self/mountinfo", encoding="utf-8") as file:
        for line in file:
            fields = line.split()
            separator = fields.index("-")
            fstype, options = fields[separator + 1], fields[separator + 3]
            if fstype in ("cgroup", "cgroup2"):
                root = fields[3].encode().decode("unicode_escape")
                point = fields[4].encode().decode("unicode_escape")
                mounts.append((root, point, fstype, options))
    return mounts


def _directory(root: str, point: str, path: str) -> str | None:
    """The directory of cgroup `path` under a mount of cgroup `root` at `point`."""
    if path != root and not path.startswith(root.rstrip("/") + "/"):
        return None
    return os.path.join(point, os.path.relpath(path, root).removeprefix("."))


def _candidates() -> list[MemoryCgroups]:
    own = _own_cgroups()
    found: list[MemoryCgroups] = []
    for root, point, fstype, options in _mounts():
        if fstype == "cgroup2" and "" in own:
            directory = _directory(root, point, own[""])
            if directory is not None:
                found.append(MemoryCgroups(2, directory))
        elif fstype == "cgroup" and "memory" in options.split(",") and "memory" in own:
            directory = _directory(root, point, own["memory"])
            if directory is not None:
                found.append(MemoryCgroups(1, directory))
    return sorted(found, key=lambda cgroups: -cgroups.version)  # v2 first


def _v2_ready(cgroups: MemoryCgroups) -> bool:
    """Whether children of the v2 directory get the memory controller. It is not enabled
    here: that changes the host's cgroup tree, and fails anyway while the worker itself sits in
    that cgroup (cgroup v2's no-internal-processes rule); the operator delegates it."""
    control = os.path.join(cgroups.parent, "cgroup.subtree_control")
    try:
        with open(control, encoding="ascii") as file:
            return "memory" in file.read().split()
    except OSError:
        return False


def find(probe_limit: int = 64 << 20) -> tuple[MemoryCgroups | None, str]:
    """Where this worker can make capped memory cgroups, proven by making one; else None and
    the reason."""
    if not os.path.exists("/proc/self/cgroup"):
        return None, "no /proc/self/cgroup (not Linux?)"
    try:
        candidates = _candidates()
    except (OSError, ValueError) as error:
        return None, f"cannot read this process's cgroups: {error}"
    reasons = []
    for cgroups in candidates:
        if cgroups.version == 2 and not _v2_ready(cgroups):
            reasons.append(f"v2 {cgroups.parent}: memory controller not delegated")
            continue
        try:
            cgroups.create(probe_limit).remove()
        except OSError as error:
            reasons.append(f"v{cgroups.version} {cgroups.parent}: {error.strerror or error}")
            continue
        return cgroups, ""
    return None, "; ".join(reasons) or "no memory cgroup hierarchy is mounted"


__all__ = ["MemoryCgroups", "RunCgroup", "find"]
