"""Escape attempts against the local Python sandbox, as code the model could send.

Shared by tests/activity/test_act_sandbox.py, which runs them through the tool as this
process's user, and by the same test file's unprivileged case, which runs this file as a
script under another uid (standard library and `activities.python_local` only, so a system
interpreter can run it): `python sandbox_escapes.py '{"data_file": ..., ...}'` prints one JSON
object with what each attempt printed, or {"skip": reason} where the sandbox is not isolated.
"""

from __future__ import annotations

import asyncio
import json
import sys


def read_file(path: str) -> str:
    return (
        "try:\n"
        f"    print('read:', open({path!r}).read())\n"
        "except OSError as error:\n"
        "    print('refused:', type(error).__name__)\n"
    )


def find_other_runs(tmpdir: str) -> str:
    """Every main.py of a sandbox run the code can find (its own included), with contents."""
    return (
        "import glob, os\n"
        f"for path in sorted(set(glob.glob({tmpdir!r} + '/deepresearch-python-*/main.py')\n"
        "        + glob.glob('/tmp/deepresearch-python-*/main.py'))):\n"
        "    try:\n"
        "        print('found:', path, open(path).read().replace(chr(10), ' '))\n"
        "    except OSError as error:\n"
        "        print('unreadable:', path, type(error).__name__)\n"
        "print('tmp:', sorted(os.listdir('/tmp')))\n"
    )


def waiting_run(marker: str, seconds: float) -> str:
    """A run that stays alive a while, its code carrying `marker`."""
    return f"import time\n# {marker}\ntime.sleep({seconds})\nprint('done')\n"


def connect_unix(path: str) -> str:
    return (
        "import socket\n"
        "client = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        f"    client.connect({path!r})\n"
        "    print('connected')\n"
        "except OSError as error:\n"
        "    print('refused:', type(error).__name__)\n"
    )


def write_everywhere(paths: list[str]) -> str:
    return (
        f"for path in {paths!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print('wrote', path)\n"
        "    except OSError as error:\n"
        "        print('refused', path, type(error).__name__)\n"
        "open('inside.txt', 'w').write('ok')\n"
        "print('inside', open('inside.txt').read())\n"
    )


# Four forked processes of 700 MiB each; the parent samples their summed resident memory.
# A fork the process cap refuses, or a block the memory cap refuses, is counted, not fatal.
AGGREGATE_MEMORY = """
import os, time
children, refused = [], 0
for _ in range(4):
    try:
        pid = os.fork()
    except OSError:
        refused += 1
        continue
    if pid == 0:
        try:
            block = b"x" * (700 << 20)
            time.sleep(3)
        except MemoryError:
            os._exit(3)
        os._exit(0)
    children.append(pid)
peak = 0
deadline = time.monotonic() + 3
while time.monotonic() < deadline:
    total = 0
    for pid in children:
        try:
            with open(f"/proc/{pid}/status") as status:
                total += sum(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))
        except OSError:
            pass
    peak = max(peak, total)
    time.sleep(0.02)
codes = sorted(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children)
print("peak_mib", peak // 1024)
print("exit_codes", codes, "refused_forks", refused)
"""


def peak_mib(text: str) -> int:
    """The summed peak that AGGREGATE_MEMORY printed."""
    return int(text.split("peak_mib ", 1)[1].split()[0])


async def _attempts(targets: dict[str, str]) -> dict[str, str]:
    from activities.python_local import detect, execute

    iso = await detect()
    if not iso.mode:
        return {"skip": iso.reason}

    async def run(code: str, timeout: float = 10.0) -> str:
        result = await execute(iso, code, timeout)
        return result.stdout.text("stdout") + result.stderr.text("stderr")

    waiting = asyncio.ensure_future(run(waiting_run(targets["marker"], 3.0)))
    await asyncio.sleep(1.0)
    seen = await run(find_other_runs(targets["tmpdir"]))
    return {
        "mode": iso.mode,
        "memory": repr(iso.memory),
        "data_file": await run(read_file(targets["data_file"])),
        "other_runs": seen,
        "waiting": await waiting,
        "socket": await run(connect_unix(targets["socket"])),
        "writes": await run(write_everywhere(json.loads(targets["writes"]))),
        "aggregate": await run(AGGREGATE_MEMORY, 20.0),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_attempts(json.loads(sys.argv[1])))))
