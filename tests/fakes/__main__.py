"""`python -m tests.fakes`: the offline demo's fakes (tests/fakes/demo.py), with the environment
that points deepresearch at them; `deepresearch demo --serve` does the same and more."""

from __future__ import annotations

import shlex
import threading

from tests.fakes.demo import DemoFakes


def main() -> None:
    with DemoFakes() as fakes:
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in fakes.env().items())
        print(f"export {assignments}")
        print('# then: deepresearch ask "What is the capital of France?"', flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
