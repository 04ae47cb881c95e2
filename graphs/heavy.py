"""Heavy mode's pure decisions: how the branches differ (sampling, strategy) and which of their
outcomes the synthesis may use. The orchestration (child sessions, reports, integration) is
`workers/heavy.py`; the branch strategies themselves are `react.py` and `iterative.py`."""

from __future__ import annotations

from collections.abc import Sequence

from graphs import prompts

# Outcomes that carry no answer: ours, the reference's, and ParallelMuse's filter value.
NO_ANSWER = frozenset({prompts.NO_ANSWER_FOUND, "", "[No Prediction]"})
# Terminations whose answer the synthesis reads: a cancelled branch gave its best answer.
USABLE = frozenset(
    {prompts.TERMINATION_ANSWER, prompts.TERMINATION_TOKEN_LIMIT, prompts.TERMINATION_CANCELLED}
)


def branch_temperature(branch: int, branches: int) -> float:
    """Spread the branches' sampling from the reference's 0.6 up to 1.0."""
    return round(0.6 + 0.4 * branch / max(1, branches - 1), 2) if branches > 1 else 0.6


def branch_strategy(branch: int, strategies: Sequence[str]) -> str:
    """One strategy for every branch, or a list cycled over them (iterative, react, ...)."""
    return strategies[branch % len(strategies)]


def usable(answer: str, termination: str) -> bool:
    """Whether a finished branch's answer goes to the synthesis."""
    return answer.strip() not in NO_ANSWER and termination in USABLE
