"""Where the dev server's CPU goes: `perf` samples of the (stripped) `temporal` binary, named
from the function table Go keeps in every binary (`.gopclntab`).

    perf record -F 250 -g -p $(pgrep -f "temporal server start-dev") -o perf.data -- sleep 20
    .venv/bin/python -m tests.benchmarks.gosym perf.data [--top 60]

Run `perf record` while a benchmark drives the server (e.g. `concurrency --sessions 150`).
Prints each function's share of the samples as the leaf (self) and anywhere on the stack
(inclusive). perf prints addresses relative to the 0x400000 load base; Go's table holds them
relative to the start of `.text`.
"""

from __future__ import annotations

import argparse
import bisect
import struct
import subprocess
from collections import Counter
from pathlib import Path

from workers.hosting.devserver import temporal_binary

PCLNTAB_MAGIC = 0xFFFFFFF1  # Go 1.20 and later
KERNEL = 0xFFFF000000000000


def function_table(binary: Path) -> tuple[list[int], list[str]]:
    """(sorted entry offsets from the start of .text, function names)."""
    sections = subprocess.run(["readelf", "-SW", str(binary)], capture_output=True, text=True)
    fields = next(line for line in sections.stdout.splitlines() if ".gopclntab" in line).split()
    offset = int(fields[fields.index(".gopclntab") + 3], 16)
    table = binary.read_bytes()[offset:]
    (magic,) = struct.unpack_from("<I", table, 0)
    if magic != PCLNTAB_MAGIC:
        raise SystemExit(f"{binary}: not a Go 1.20+ function table (magic {magic:#x})")
    nfunc, _, _, names_at, _, _, _, functab_at = struct.unpack_from("<8Q", table, 8)
    entries, names = [], []
    for k in range(nfunc):
        entry, func_at = struct.unpack_from("<II", table, functab_at + 8 * k)
        (name_at,) = struct.unpack_from("<i", table, functab_at + func_at + 4)
        start = names_at + name_at
        entries.append(entry)
        names.append(table[start : table.index(b"\0", start)].decode(errors="replace"))
    return entries, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="perf.data of the dev server")
    parser.add_argument("--binary", default=temporal_binary())
    parser.add_argument("--top", type=int, default=60)
    args = parser.parse_args()
    entries, names = function_table(Path(args.binary))
    text_base = 0x1000  # .text's start from the load base

    def name(address: int) -> str:
        if address >= KERNEL:
            return "[kernel]"
        index = bisect.bisect_right(entries, address - text_base) - 1
        return names[index] if index >= 0 else hex(address)

    script = subprocess.run(
        ["perf", "script", "-i", args.data, "-F", "ip"], capture_output=True, text=True
    ).stdout
    leaf: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    samples = [block.split() for block in script.split("\n\n") if block.strip()]
    for stack in samples:
        frames = [name(int(address, 16)) for address in stack]
        leaf[frames[0]] += 1
        anywhere.update(set(frames))
    print(f"{len(samples)} samples")
    for title, counts in (("self", leaf), ("inclusive", anywhere)):
        print(f"--- {title}")
        for function, count in counts.most_common(args.top):
            print(f"{100 * count / len(samples):5.1f}% {function}")


if __name__ == "__main__":
    main()
