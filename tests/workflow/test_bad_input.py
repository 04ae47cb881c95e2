"""Bad input and bad settings are one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.workflow.test_session import QUESTION, four_call_script


@pytest.mark.parametrize("session_id", ["../../x", "/abs/path", "a/b", ".hidden", "x" * 300])
def test_a_session_id_that_is_a_path_is_refused(stack: Stack, session_id: str) -> None:
    stack.script(QUESTION, four_call_script(stack))
    result = stack.cli("ask", QUESTION, "--id", session_id, "--report")
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: invalid session id")
    assert not (stack.data_dir.parent / "x.md").exists()
    assert not (stack.data_dir / "reports").exists()


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("TEMPORAL_ADDRESS", "not a host:port", "TEMPORAL_ADDRESS"),
        ("DEEPRESEARCH_HEARTBEAT_SECONDS", "inf", "DEEPRESEARCH_HEARTBEAT_SECONDS"),
        ("DEEPRESEARCH_TOOL_TIMEOUT_SECONDS", "1e300", "DEEPRESEARCH_TOOL_TIMEOUT_SECONDS"),
        ("DEEPRESEARCH_DATA_DIR", "/etc/hostname/data", "/etc/hostname"),
    ],
)
def test_a_bad_setting_is_one_line(stack: Stack, name: str, value: str, words: str) -> None:
    result = stack.cli("ask", QUESTION, **{name: value})
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and words in line and "Traceback" not in result.stderr
