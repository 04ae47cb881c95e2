"""PythonInterpreter: the model's code on SandboxFusion, or in a local sandbox without network.

The backends are modules of their own (`python_fusion`, `python_local`) that return what a run
produced; this module is the tool: it picks the backend, remembers the worker's isolation, and
renders runs as the reference's observation texts.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.context import ToolContext, current
from activities.errors import ToolError
from activities.outcome import observe
from activities.python_fusion import pick_endpoint, run_code
from activities.python_local import (
    KNOWN_SIGNALS,
    MEMORY_LIMIT_BYTES,
    OUTPUT_LIMIT_BYTES,
    SANDBOX_UID_BASE,
    SANDBOX_UID_SPAN,
    Isolation,
    Run,
    detect,
    execute,
)
from graphs import prompts
from graphs.prompts import (
    PYTHON_ALL_FAILED,
    PYTHON_ENDPOINT_TIMEOUT,
    PYTHON_FINISHED,
    PYTHON_KILLED,
    PYTHON_MEMORY_HINT,
    PYTHON_MEMORY_SPLIT_HINT,
    PYTHON_NOT_ISOLATED,
    PYTHON_RUN_TIMEOUT,
    PYTHON_STDERR,
    PYTHON_STDOUT,
)

logger = logging.getLogger(__name__)


# SandboxFusion can take run_timeout plus its own start-up and queueing before it answers.
CLIENT_TIMEOUT_MARGIN_S = 10.0


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


async def sandbox_fusion(ctx: ToolContext, code: str) -> str:
    """Run `code` on SandboxFusion (another endpoint on each retry), as the reference's text."""
    if not ctx.sandbox_fusion_urls:
        raise ToolError("no SandboxFusion endpoint configured: set SANDBOX_FUSION_URL")
    endpoint = pick_endpoint(ctx.sandbox_fusion_urls)
    timeout = ctx.python_timeout_seconds
    run = await run_code(ctx.http, endpoint, code, timeout, timeout + CLIENT_TIMEOUT_MARGIN_S)
    return format_run(run.stdout, run.stderr, run.execution_time, timeout)


# -- local sandbox ----------------------------------------------------------------------------

_isolation: Isolation | None = None


async def isolation() -> Isolation:
    """Whether (and how) code can be isolated here, probed once per process."""
    global _isolation
    if _isolation is None:
        _isolation = await detect()
        if _isolation.mode:
            logger.info("local Python sandbox: %s isolation", _isolation.mode)
        else:
            logger.warning("local Python sandbox cannot be isolated: %s", _isolation.reason)
    return _isolation


def _memory_hint(run: Run) -> str:
    limit = MEMORY_LIMIT_BYTES >> 20
    if run.memory.processes is None:
        return PYTHON_MEMORY_HINT.format(limit=limit)
    return PYTHON_MEMORY_SPLIT_HINT.format(
        processes=run.memory.processes, each=run.memory.per_process >> 20, limit=limit
    )


def _format_local(run: Run, timeout: float) -> str:
    stderr = run.stderr.text("stderr")
    notes = []
    last = stderr.rstrip().rsplit("\n", 1)[-1]
    if last.startswith("MemoryError") or run.oom_kills:  # the kernel's OOM kill says nothing
        notes.append(_memory_hint(run))
    if run.signal is not None:
        notes.append(PYTHON_KILLED.format(signal=KNOWN_SIGNALS[signal.Signals(run.signal)]))
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
        run = await execute(iso, code, ctx.python_timeout_seconds)
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


__all__ = [
    "OUTPUT_LIMIT_BYTES",
    "PYTHON_ENDPOINT_TIMEOUT",
    "PYTHON_FINISHED",
    "PYTHON_RUN_TIMEOUT",
    "SANDBOX_UID_BASE",
    "SANDBOX_UID_SPAN",
    "Isolation",
    "format_run",
    "isolation",
    "local_sandbox",
    "python",
    "run_python",
    "sandbox_fusion",
]
