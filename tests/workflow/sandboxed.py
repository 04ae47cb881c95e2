"""Workflows for tests/workflow/test_sandbox_runner.py, in a module of few imports, as the
sandbox imports a workflow's module afresh for every run."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn
class Echo:
    @workflow.run
    async def run(self, text: str) -> str:
        return f"{text} at {workflow.now().year >= 2000}"


@workflow.defn
class WallClock:
    """Reads the machine's clock: the sandbox refuses it (a replay would read another time)."""

    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()
