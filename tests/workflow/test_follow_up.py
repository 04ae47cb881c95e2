"""Follow-up questions against a real dev server and the loopback fakes: a new session whose
first model request holds the earlier session's conversation, whose visit of a page the
earlier session read takes the stored page (no fetch), linked both ways in the views and the
export; and the refusals in one line."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Stack
from tests.fakes.model import message_text
from tests.workflow.test_session import ANSWER, QUESTION, answer, ask_json, call

FOLLOW = "And which year did they publish their textbook?"
FOLLOW_ANSWER = "1998: Reinforcement Learning: An Introduction."


def script_follow_ups(stack: Stack) -> None:
    """The fake picks the follow-up's script by its question, and counts its turns from it."""

    def users(payload: dict[str, Any]) -> list[str]:
        return [message_text(m) for m in payload["messages"] if m.get("role") == "user"]

    def key(payload: dict[str, Any]) -> str | None:
        return FOLLOW if FOLLOW in users(payload) else None

    def turn(payload: dict[str, Any]) -> int | None:
        messages = payload["messages"]
        asked = [i for i, m in enumerate(messages) if message_text(m) == FOLLOW]
        if not asked:
            return None
        return sum(1 for m in messages[asked[0] :] if m.get("role") == "assistant")

    stack.model.script_key = key
    stack.model.turn_of = turn


def test_a_follow_up_starts_from_the_earlier_conversation_and_pages(stack: Stack) -> None:
    page = f"{stack.jina.url}/page/turing-1"
    stack.script(QUESTION, [call("visit", {"url": [page], "goal": "who won"}), answer()])
    stack.script(
        FOLLOW,
        [call("visit", {"url": [page], "goal": "the textbook's year"}), answer(FOLLOW_ANSWER)],
    )
    script_follow_ups(stack)
    first = ask_json(stack, "--id", "s-earlier")
    assert first["answer"] == ANSWER
    assert stack.jina.read_targets() == [page]
    extractions = len(stack.model.extraction_requests())

    result = stack.cli("ask", FOLLOW, "--follow-up", "s-earlier", "--id", "s-later", "--json")
    assert result.returncode == 0, result.stderr
    later = json.loads(result.stdout)
    assert later["answer"] == FOLLOW_ANSWER and later["follow_up_of"] == "s-earlier"
    assert stack.jina.read_targets() == [page]  # the earlier session's page, not fetched again
    assert len(stack.model.extraction_requests()) == extractions + 1  # read for the new goal
    assert page in later["sources"]

    requests = [r for r in stack.model.research_requests() if FOLLOW in r.meta["question"] or
                any(message_text(m) == FOLLOW for m in r.body["messages"])]  # fmt: skip
    opening = requests[0].body["messages"]
    assert [m["role"] for m in opening[:2]] == ["system", "user"]
    assert opening[1]["content"] == QUESTION  # the earlier conversation, from its question
    assistants = [message_text(m) for m in opening if m["role"] == "assistant"]
    assert len(assistants) == 2 and f"<answer>{ANSWER}</answer>" in assistants[-1]
    assert opening[-1] == {"role": "user", "content": FOLLOW}

    shown = stack.cli("show", "s-later")
    assert "follow-up of s-earlier" in shown.stdout, shown.stdout
    earlier = stack.cli("show", "s-earlier")
    assert "follow-ups: s-later" in earlier.stdout, earlier.stdout
    exported = stack.cli("export", "s-later")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["follow_up_of"] == "s-earlier"


def test_follow_ups_refused_in_one_line(stack: Stack) -> None:
    missing = stack.cli("ask", FOLLOW, "--follow-up", "s-none")
    assert missing.returncode == 2 and "no session with id 's-none'" in missing.stderr
    heavy = stack.cli("ask", FOLLOW, "--follow-up", "s-none", "--mode", "heavy")
    assert heavy.returncode == 2 and "a follow-up is a single session" in heavy.stderr
    for result in (missing, heavy):
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
