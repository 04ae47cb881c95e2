"""`show` in text mode: a retried step names its failure and its time across attempts."""

from __future__ import annotations

from tests.conftest import Stack
from tests.workflow.test_session import QUESTION, ask_json, four_call_script


def test_a_retried_step_shows_its_failure_and_total_time(stack: Stack) -> None:
    stack.script(QUESTION, four_call_script(stack))
    stack.jina.fail_next(1, status=503, body="the reader is overloaded")
    ask_json(stack, "--id", "s-retried")
    shown = stack.cli("show", "s-retried")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    (header,) = [line for line in lines if "attempt 2" in line]
    assert "visit:" in header and "with its retries" in header
    after = lines[lines.index(header) + 1 :]
    failure = next(line for line in after if "last_failure:" in line)
    assert "Jina Reader answered HTTP 503" in failure
