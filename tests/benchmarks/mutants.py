"""The mutation score per module after `mutmut run` (`make mutants`): killed / all mutants, and
the survivors by name, for docs/testing.md."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict

# mutmut 3 names a mutant `module.x_function__mutmut_N`, or `module.xǁClassǁmethod__mutmut_N`
# for a method (which a pattern on `.x_` alone misses: the first scores left out every method)
MUTANT = re.compile(r"^(.+?)\.x(?:_|ǁ)(.+)$")
# A mutant that makes a test hang (mutmut stops it: `timeout`) was caught as surely as one
# that makes a test fail.
CAUGHT = ("killed", "timeout")


def main() -> int:
    listed = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    survivors: dict[str, list[str]] = defaultdict(list)
    for line in listed.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        found = MUTANT.match(name)
        if found is None:
            continue
        module, function = found.group(1), found.group(2).replace("ǁ", ".").strip(".")
        counts[module][status] += 1
        if status not in CAUGHT:
            survivors[module].append(f"{function} ({status})")
    print(f"{'module':40} {'caught':>7} {'all':>5} {'score':>6}")
    for module in sorted(counts):
        total = sum(counts[module].values())
        caught = sum(counts[module][status] for status in CAUGHT)
        print(f"{module:40} {caught:7} {total:5} {caught / total:6.1%}")
    for module in sorted(survivors):
        print(f"\n{module}: " + ", ".join(survivors[module]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
