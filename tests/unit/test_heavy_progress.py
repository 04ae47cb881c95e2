"""The live view of a Heavy session names every branch, its strategy and where it stands."""

from __future__ import annotations

from graphs import prompts
from graphs.heavy import branch_strategy, branch_temperature, usable
from workers.cli.render import heavy_lines
from workers.workflows.heavy import BranchStatus, HeavyProgress
from workers.workflows.models import Progress


def test_every_branch_has_a_line_with_its_state() -> None:
    progress = HeavyProgress(
        stage="research",
        branches=[
            BranchStatus(branch=0, session_id="s-b0", temperature=0.6, status="answered",
                         answer="Barto and Sutton"),
            BranchStatus(branch=1, session_id="s-b1", temperature=0.8, strategy="iterative"),
            BranchStatus(branch=2, session_id="s-b2", temperature=1.0, status="failed",
                         answer="model endpoint answered HTTP 500"),
        ],
    )  # fmt: skip
    running = {1: Progress(step=7, tool_calls=9, last_action='search {"query": ["x"]}')}
    lines = heavy_lines("s", progress, running).plain.splitlines()
    assert lines[0] == "s heavy mode · research"
    assert lines[1] == "  s-b0 (t=0.6, react) answered: Barto and Sutton"
    assert (
        lines[2]
        == '  s-b1 (t=0.8, iterative) running · step 7, 9 tool calls · search {"query": ["x"]}'
    )
    assert lines[3] == "  s-b2 (t=1.0, react) failed: model endpoint answered HTTP 500"
    assert heavy_lines("s", progress).plain.splitlines()[2] == "  s-b1 (t=0.8, iterative) running"


def test_branch_temperatures_spread_from_the_reference_default() -> None:
    assert [branch_temperature(k, 3) for k in range(3)] == [0.6, 0.8, 1.0]
    assert branch_temperature(0, 1) == 0.6
    assert [branch_strategy(k, ["iterative", "react"]) for k in range(3)] == [
        "iterative",
        "react",
        "iterative",
    ]


def test_which_branch_outcomes_the_synthesis_reads() -> None:
    assert usable("Barto and Sutton", prompts.TERMINATION_ANSWER)
    assert usable("Barto and Sutton", prompts.TERMINATION_CANCELLED)  # its best answer
    assert not usable(prompts.NO_ANSWER_FOUND, prompts.TERMINATION_NOT_FOUND)
    assert not usable("  ", prompts.TERMINATION_ANSWER)
    assert not usable("a guess", prompts.TERMINATION_LLM_LIMIT)


def test_a_cancelled_session_says_so() -> None:
    progress = HeavyProgress(stage="research", cancelling="enough")
    assert heavy_lines("s", progress).plain == "s heavy mode · research · cancelling: enough\n"
