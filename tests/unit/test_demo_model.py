"""The demo's generic model: every kind of request the agent makes gets a reply the agent's
own parsers accept, worked out from the request alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from activities.heavy import interaction_text
from activities.judge import judge_messages, parse_verdict
from activities.report import sources_block
from graphs import prompts
from graphs.citations import ground
from graphs.protocol import tongyi
from tests.fakes.demo import best_sentence, respond, sentences

QUESTION = "What is the capital of France?"
PAGE = "http://127.0.0.1:9/page/paris"
RESULTS = (
    "A Google search for 'What is the capital of France?' found 2 results:\n\n## Web Results\n"
    f"1. [Paris]({PAGE})\nDate published: Jan 1, 2025\n\nParis is the capital of France.\n\n"
    "2. [Other](http://127.0.0.1:9/page/other)\n\nSomething else."
)
VISITED = prompts.VISIT_RESULT.format(
    url=PAGE,
    goal=QUESTION,
    evidence="Paris lies on the Seine. Paris is the capital and largest city of France.",
    summary="Paris is the capital.",
).strip()


def _tool_response(text: str) -> dict[str, str]:
    return {
        "role": "user",
        "content": prompts.TOOL_RESPONSE_PREFIX + text + prompts.TOOL_RESPONSE_SUFFIX,
    }


def _turn(messages: list[dict[str, Any]], **extra: Any) -> Any:
    return respond({"messages": [{"role": "system", "content": "s"}, *messages], **extra})


def _call(reply: str) -> dict[str, Any]:
    message = tongyi.parse(reply, 1)
    assert message.tool_calls, reply
    return {"name": message.tool_calls[0]["name"], "args": message.tool_calls[0]["args"]}


def test_react_searches_then_reads_the_first_result_then_answers_from_it() -> None:
    asked = {"role": "user", "content": QUESTION}
    first = _turn([asked])
    assert _call(first) == {"name": "search", "args": {"query": [QUESTION]}}
    second = _turn([asked, {"role": "assistant", "content": first}, _tool_response(RESULTS)])
    assert _call(second) == {"name": "visit", "args": {"url": [PAGE], "goal": QUESTION}}
    third = _turn(
        [
            asked,
            {"role": "assistant", "content": first},
            _tool_response(RESULTS),
            {"role": "assistant", "content": second},
            _tool_response(VISITED),
        ]
    )
    assert tongyi.extract_answer(third) == "Paris is the capital and largest city of France."


def test_react_answers_when_told_to_stop() -> None:
    asked = {"role": "user", "content": QUESTION}
    stop = {"role": "user", "content": prompts.CANCEL_PROMPT}
    reply = _turn([asked, {"role": "assistant", "content": "x"}, stop])
    assert tongyi.extract_answer(reply) == "No page was read before the research stopped."


def test_native_tool_calls_for_the_openai_dialect() -> None:
    asked = {"role": "user", "content": QUESTION}
    tools = [{"type": "function"}]
    first = _turn([asked], tools=tools)
    assert first["tool_calls"] == [{"name": "web_search", "arguments": {"query": QUESTION}}]
    calls = [{"id": "c1", "type": "function", "function": {"name": "web_search"}}]
    second = _turn(
        [asked, {"role": "assistant", "tool_calls": calls}, {"role": "tool", "content": RESULTS}],
        tools=tools,
    )
    assert second["tool_calls"] == [{"name": "read_page", "arguments": {"url": PAGE}}]
    third = _turn([asked, {"role": "tool", "content": VISITED}], tools=tools)
    assert third == "Paris is the capital and largest city of France."


def test_iterative_rounds_carry_their_findings_in_the_report() -> None:
    def round_prompt(report: str, last: str, number: int) -> dict[str, str]:
        text = prompts.ITERATIVE_ROUND_PROMPT.format(
            question=QUESTION, report=report, last=last, round=number
        )
        return {"role": "user", "content": text}

    first = _turn([round_prompt(prompts.ITERATIVE_EMPTY_REPORT, prompts.ITERATIVE_FIRST_ROUND, 1)])
    assert _call(first)["name"] == "search"
    last = f"<last_action>\nx\n</last_action>\n\n<tool_response>\n{RESULTS}\n</tool_response>"
    report = first.split("<report>")[1].split("</report>")[0].strip()
    second = _turn([round_prompt(report, last, 2)])
    assert _call(second) == {"name": "visit", "args": {"url": [PAGE], "goal": QUESTION}}
    carried = second.split("<report>")[1].split("</report>")[0]
    assert PAGE in carried
    last = f"<last_action>\nx\n</last_action>\n\n<tool_response>\n{VISITED}\n</tool_response>"
    third = _turn([round_prompt(carried.strip(), last, 3)])
    assert tongyi.extract_answer(third) == "Paris is the capital and largest city of France."
    assert f"{PAGE} says: Paris is the capital" in third.split("</report>")[0]


def test_heavy_reports_and_their_integration() -> None:
    answer = "Paris is the capital and largest city of France."
    trajectory = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": _turn([{"role": "user", "content": QUESTION}])},
        _tool_response(VISITED),
        {"role": "assistant", "content": f"<think>t</think>\n<answer>{answer}</answer>"},
    ]
    prompt = prompts.REPORT_PROMPT.format(traj=interaction_text(trajectory))
    reply = _turn([{"role": "user", "content": prompt}])
    report = reply.split("<report>")[-1].split("</report>")[0].strip()
    assert f"Answer: {answer}" in report and '"name": "search"' in report
    integrate = prompts.INTEGRATE_PROMPT.format(question=QUESTION)
    for number, text in enumerate([report, report, "no answer here"], start=1):
        integrate += f"\n\n[Report {number}]: {text}"
    final = _turn([{"role": "user", "content": integrate}])
    assert final.split("<answer>")[-1].split("</answer>")[0] == answer
    assert "2 of 3 reports" in final


def test_the_report_writer_cites_only_pages_read() -> None:
    ledger = [{"url": PAGE, "evidence": VISITED}]
    prompt = prompts.REPORT_WRITER_PROMPT.format(
        question=QUESTION, answer="Paris.", sources=sources_block(ledger)
    )
    markdown, warnings = ground(_turn([{"role": "user", "content": prompt}]), ledger)
    assert warnings == []
    assert markdown.startswith(f"# {QUESTION}\n\nParis [1].")
    assert "- Paris is the capital and largest city of France. [1]" in markdown
    assert markdown.rstrip().endswith(f"[1] {PAGE}")


@pytest.mark.parametrize("scheme", ["gaia", "browsecomp", "qa", "xbench"])
def test_judges_reply_in_their_scheme(scheme: Any) -> None:
    def verdict(prediction: str) -> bool:
        messages = judge_messages(scheme, QUESTION, "Paris", prediction)
        reply = respond({"messages": messages})
        parsed = parse_verdict(scheme, reply)
        assert parsed.label, reply  # readable
        return parsed.correct

    assert verdict("Paris is the capital and largest city of France.")
    assert not verdict("Lyon is the capital of France.")


def test_sentences_skip_reader_headers_headings_and_abbreviations() -> None:
    text = (
        "Title: ACM\n\nURL Source: http://x\n\nMarkdown Content:\n# ACM Turing Award 2024\n\n"
        "ACM named Andrew G. Barto and Richard S. Sutton as the recipients of the 2024 ACM A.M.\n"
        "Turing Award. Their work came in the 1980s."
    )
    assert sentences(text) == [
        "ACM named Andrew G. Barto and Richard S. Sutton as the recipients of the 2024 ACM A.M. "
        "Turing Award.",
        "Their work came in the 1980s.",
    ]
    assert best_sentence(text, "When did their work come?") == "Their work came in the 1980s."


def test_extraction_keeps_the_sentences_about_the_goal() -> None:
    from tests.fakes.demo import DemoModel

    prompt = prompts.EXTRACTOR_PROMPT.format(
        webpage_content="# Paris\n\nParis is the capital of France. The weather is mild.",
        goal=QUESTION,
    )
    reply, _ = DemoModel()._extraction_reply(prompt)
    assert json.loads(reply)["evidence"] == "Paris is the capital of France."
    assert json.loads(reply)["summary"] == "Paris is the capital of France."
