"""The workflow sandbox with its glue code compiled once per process, not once per call.

The SDK's sandbox runs every activation, and every payload conversion inside one (the codec's
serialization-context lookup, once per payload sequence: dozens per activation), as `exec` of a
short source string, which Python compiles anew each time (32 µs a compile); the lookup alone,
compiling included, was 7.5 % of a loaded worker's event loop (docs/benchmarks.md, "Model
client and sandbox glue"). The strings are the SDK's own
and few; compiling each once and running the code object is the same program, so the sandbox's
isolation and its determinism checks are untouched.
"""

from __future__ import annotations

import functools
from types import CodeType
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance


@functools.lru_cache(maxsize=64)
def compiled(source: str) -> CodeType:
    """`source` compiled as `exec` compiles a string (same file name in tracebacks)."""
    return compile(source, "<string>", "exec")


class _CompiledInstance(_Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:  # type: ignore[override]
        super()._run_code(compiled(code), **extra_globals)  # type: ignore[arg-type]


class CompiledSandboxedWorkflowRunner(SandboxedWorkflowRunner):
    """`SandboxedWorkflowRunner` whose instances run its glue code from compiled objects."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledInstance(det, self.runner_class, self.restrictions)
