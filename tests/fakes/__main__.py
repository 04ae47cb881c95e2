"""`python -m tests.fakes`: the loopback fakes with a demo script, to try deepresearch offline."""

from __future__ import annotations

import json
import threading

from tests.fakes import FakeJina, FakeModel, FakeSerper
from tests.fakes.model import iterative_round

QUESTION = "Who won the 2024 Turing Award and for what?"
PAGE = """# ACM Turing Award 2024

ACM named Andrew G. Barto and Richard S. Sutton as the recipients of the 2024 ACM A.M. Turing
Award for developing the conceptual and algorithmic foundations of reinforcement learning.

Their work in the 1980s introduced the main ideas of reinforcement learning, including temporal
difference learning and policy-gradient methods."""


def _call(name: str, arguments: dict[str, object], thought: str) -> str:
    body = json.dumps({"name": name, "arguments": arguments})
    return f"<think>{thought}</think>\n<tool_call>\n{body}\n</tool_call>"


def main() -> None:
    jina = FakeJina(pages={"/page/turing-2024": PAGE}).start()
    serper = FakeSerper(
        page_base=jina.url,
        results={
            "2024 Turing Award winner": [
                {
                    "title": "Barto and Sutton receive the 2024 ACM A.M. Turing Award",
                    "link": f"{jina.url}/page/turing-2024",
                    "snippet": "Pioneers of reinforcement learning honoured.",
                    "date": "Mar 5, 2025",
                }
            ]
        },
    ).start()
    script = [
        _call("search", {"query": ["2024 Turing Award winner"]}, "I should search for the award."),
        _call(
            "visit",
            {"url": [f"{jina.url}/page/turing-2024"], "goal": "Who won and for what work"},
            "The first result is the announcement; read it.",
        ),
        "<think>The page names the winners and the reason.</think>\n<answer>Andrew Barto and "
        "Richard Sutton, for the foundations of reinforcement learning.</answer>",
    ]
    # Heavy mode's and --report's own calls, keyed by sentences of their prompts (longer than
    # the question their prompts also contain, so these keys win).
    answer = "Andrew Barto and Richard Sutton, for the foundations of reinforcement learning."
    extra = {
        "Your task is to distill this trajectory into a concise yet sufficiently detailed": [
            "<report>## Solution Planning\nFind the announcement, then read it.\n\n"
            "## Solution Methods\nsearch, then visit of the ACM page.\n\n"
            "## Final Reasoning\nThe ACM page names the winners.</report>"
        ],
        "Multiple independent teams have provided detailed process reports": [
            f"<think>The reports agree.</think>\n<answer>{answer}</answer>"
        ],
        "Write a research report that answers the question below, using only the numbered": [
            "# The 2024 Turing Award\n\nACM gave the 2024 A.M. Turing Award to Andrew Barto and "
            "Richard Sutton [1] for the conceptual and algorithmic foundations of reinforcement "
            "learning [1]."
        ],
    }
    model = FakeModel(scripts={QUESTION: script, **extra}).start()
    model.turn_of = iterative_round  # `--strategy iterative` rounds follow the same script
    print(f"export OPENAI_BASE_URL={model.url}/v1 DEEPRESEARCH_MODEL=fake-model")
    print(f"export SERPER_API_KEY={serper.api_key} SERPER_BASE_URL={serper.url}")
    print(f"export JINA_API_KEY={jina.api_key} JINA_BASE_URL={jina.url}")
    print("export DEEPRESEARCH_ALLOW_LOOPBACK=1")
    print(f'# then: deepresearch ask "{QUESTION}"', flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
