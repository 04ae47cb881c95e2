"""How long `deepresearch` commands take to start, against a bare interpreter, in one run.

    python -m tests.benchmarks.cli_startup [--repeat 5]

Each command runs `--repeat` times in a fresh process (its `--help`, so nothing connects);
the table gives the median wall time and its ratio to `python -c pass` measured in the same
run (2 shared cores: absolute times are noise, the ratio is the number to compare)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ["--help"],
    ["ask", "--help"],
    ["list", "--help"],
    ["show", "--help"],
    ["cancel", "--help"],
    ["eval", "--help"],
    ["mcp", "--help"],
]


def _median_seconds(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    baseline = _median_seconds([sys.executable, "-c", "pass"], args.repeat)
    print(f"{'command':<24} {'median s':>9} {'x bare python':>14}")
    print(f"{'python -c pass':<24} {baseline:>9.3f} {1.0:>14.1f}")
    for command in COMMANDS:
        seconds = _median_seconds([sys.executable, "-m", "workers.cli", *command], args.repeat)
        label = "deepresearch " + " ".join(command)
        print(f"{label:<24} {seconds:>9.3f} {seconds / baseline:>14.1f}")


if __name__ == "__main__":
    main()
