"""The offline demo: a stand-in web (fake Serper and Jina that answer any query and serve a page
for any path) and a generic scripted model that researches ANY question the way the agent's
loop expects: search the question, read the first result, answer with a sentence of that page.

The model works out each reply from the request alone (no per-question script), so every
kind of call the agent makes gets a sensible answer: ReAct turns in both dialects (tongyi text
and native tool calls), iterative-workspace rounds, page extraction, Heavy mode's branch
reports and integration, the report writer and the benchmark judges.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from graphs import prompts

from .base import Response
from .jina import FakeJina, page_title
from .model import FakeModel, message_text
from .serper import FakeSerper

MODEL = "demo-model"

# -- the stand-in web ---------------------------------------------------------------------------

DEMO_NOTE = "This page belongs to the offline demo's stand-in web (tests/fakes/demo.py)."

# path -> (words of a query that lead to it, the page as markdown)
TOPICS: dict[str, tuple[frozenset[str], str]] = {
    "/page/paris": (
        frozenset({"france", "paris", "french"}),
        f"""# Paris

Paris is the capital and largest city of France. It lies on the river Seine, in the north of
the country, at the heart of the Ile-de-France region.

The city has been the seat of the French government for most of its history. Its landmarks
include the Eiffel Tower, the Louvre and the cathedral of Notre-Dame.

{DEMO_NOTE}""",
    ),
    "/page/turing-award-2024": (
        frozenset({"turing", "barto", "sutton"}),
        f"""# ACM Turing Award 2024

ACM named Andrew G. Barto and Richard S. Sutton as the recipients of the 2024 ACM A.M. Turing
Award for developing the conceptual and algorithmic foundations of reinforcement learning.

Their work in the 1980s introduced the main ideas of reinforcement learning, including temporal
difference learning and policy-gradient methods.

{DEMO_NOTE}""",
    ),
    "/page/tongyi-deepresearch": (
        frozenset({"tongyi", "deepresearch"}),
        f"""# Tongyi DeepResearch

Tongyi DeepResearch is an agentic language model from Alibaba's Tongyi Lab, trained for long
deep-research tasks: it thinks, searches the web, reads pages and answers over many steps.

Its 30B-A3B model is a mixture of experts with about 30 billion parameters, of which about 3
billion are active for each token.

{DEMO_NOTE}""",
    ),
    "/page/temporal": (
        frozenset({"temporal", "durable"}),
        f"""# Temporal

Temporal is a durable execution platform: a workflow's progress is recorded as an event
history, so a crashed worker's workflow continues on another worker from its last step.

Activities, the steps that do I/O, are retried by the server with the policy they were given.

{DEMO_NOTE}""",
    ),
}


def _query_words(path: str) -> str:
    """The search words a generic page's path came from (`/page/what-is-x--1` -> what is x)."""
    name = re.sub(r"-+\d+$", "", page_title(path))
    return " ".join(part for part in name.split("-") if part)


def generic_page(path: str) -> str:
    """The page any other path serves: it says plainly that the demo's web has nothing on it."""
    words = _query_words(path) or "this subject"
    return f"""# {words.capitalize()}

The offline demo cannot research "{words}": its stand-in web holds no page about it, and a real
model with a real search backend is needed for that (see "With your own model" in the README).

Every search in the demo leads to pages like this one, so that any question runs end to end
without a network or a key: search, read, answer.

{DEMO_NOTE}"""


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


_STOP = frozenset(
    "a an and are as at be been by did do does for from had has have how in into is it its of on "
    "or that the this to was were what when where which who whom whose why with".split()
)


def content_words(text: str) -> set[str]:
    """The words of `text` that say something (question words and articles dropped)."""
    found = set(words(text))
    return (found - _STOP) or found


class DemoSerper(FakeSerper):
    """Any query gets results: the demo's topic pages it names first, then generic pages."""

    def _search(self, params: dict[str, Any]) -> dict[str, Any]:
        answer = super()._search(params)
        query = str(params.get("q"))
        asked = set(words(query))
        ranked = sorted(
            (path for path, (keys, _) in TOPICS.items() if keys & asked),
            key=lambda path: -len(TOPICS[path][0] & asked),
        )
        organic = [
            {
                "title": page_title_of(TOPICS[path][1]),
                "link": f"{self.page_base}{path.lstrip('/')}",
                "snippet": sentences(TOPICS[path][1])[0],
                "date": "Jan 1, 2025",
            }
            for path in ranked
        ]
        for index, result in enumerate(answer["organic"], start=1):
            result["title"] = f"{query} (demo page {index})"
            result["snippet"] = f'A page of the offline demo\'s stand-in web about "{query}".'
        answer["organic"] = [*organic, *answer["organic"]][:2]
        return answer


def page_title_of(markdown: str) -> str:
    first = markdown.strip().splitlines()[0]
    return first[2:].strip() if first.startswith("# ") else first.strip()


class DemoJina(FakeJina):
    """Jina Reader and plain website alike serve a page for any path."""

    def __init__(self, api_key: str | None = "test-jina-key") -> None:
        super().__init__(api_key=api_key, pages={path: text for path, (_, text) in TOPICS.items()})

    def page_content(self, path: str) -> tuple[str, list[str]]:
        if path not in self.pages:
            self.pages[path] = generic_page(path)  # verbatim for the reader, too
        return super().page_content(path)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        page = path.split("?", 1)[0]
        if method in ("GET", "HEAD") and not page.startswith(("/page/", "/http:", "/https:")):
            return self._website(page)
        return super().handle(method, path, headers, body)


# -- reading text -------------------------------------------------------------------------------

_READER_HEADER = re.compile(r"^(Title|URL Source|Published Time|Markdown Content):")
# A sentence ends at . ! ? after a lower-case letter or digit (so "A.M." and "G." do not end
# one) and before a capital, a digit or a quote.
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z0-9\"'])")


def sentences(text: str) -> list[str]:
    """The prose sentences of a page or an observation: headings, reader headers and link
    lines left out, hard-wrapped lines joined."""
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines()]
        lines = [line for line in lines if line and not _READER_HEADER.match(line)]
        lines = [line for line in lines if not line.startswith(("#", "[", "!["))]
        if lines:
            paragraphs.append(" ".join(lines))
    found = [s.strip() for p in paragraphs for s in _SENTENCE_END.split(p)]
    return [s for s in found if s and s != DEMO_NOTE] or [s for s in found if s]


def best_sentence(text: str, question: str) -> str:
    """The sentence of `text` sharing the most words with the question (the first on a tie)."""
    asked = content_words(question)
    found = sentences(text)
    if not found:
        return ""
    return max(found, key=lambda s: (len(asked & set(words(s))), -found.index(s)))


# -- the model's replies ------------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\n]+)\)")
_VISIT_EVIDENCE = re.compile(r"Evidence in page: \n(.*?)\n\nSummary: \n", re.DOTALL)
_TOOL_RESPONSE = re.compile(r"<tool_response>\n?(.*?)\n?</tool_response>", re.DOTALL)
_ANSWER_NOW = "<answer>your answer</answer>"  # the forced-answer and the cancel prompt end so
_VISIT_PREFIX = "The useful information in "


def _call(name: str, arguments: dict[str, Any], thought: str) -> str:
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"<think>{thought}</think>\n<tool_call>\n{body}\n</tool_call>"


def _first_link(observation: str) -> str | None:
    found = _LINK.search(observation)
    return found.group(1).strip() if found else None


def _page_of(observation: str) -> str | None:
    """The URL a visit result read."""
    if not observation.startswith(_VISIT_PREFIX):
        return None
    return observation[len(_VISIT_PREFIX) :].split(" for user goal ", 1)[0]


def finding(question: str, observation: str) -> tuple[str, str] | None:
    """(answer, the page it came from) from a visit result, None from anything else."""
    url = _page_of(observation)
    if url is None:
        return None
    evidence = _VISIT_EVIDENCE.search(observation + "\n\nSummary: \n")
    text = evidence.group(1) if evidence else observation
    if text.strip() == prompts.VISIT_FAILED_EVIDENCE:
        return f"The demo could not read {url}, so it has no answer.", url
    sentence = best_sentence(text, question)
    if not sentence:
        return f"{url} says nothing on this.", url
    if not content_words(question) & set(words(sentence)):
        return f"{url} does not say; the nearest it comes is: {sentence}", url
    return sentence, url


def next_action(question: str, observation: str | None) -> tuple[str, Any, str]:
    """What to do after the last tool response: ("search", query, thought), ("visit", url,
    thought) or ("answer", text, thought). Search, then read, then answer: every session
    ends within three turns whatever the tools returned."""
    if observation is None:
        return "search", question, "I should search the web for the question first."
    found = finding(question, observation)
    if found is not None:
        answer, url = found
        return "answer", answer, f"The page {url} answers it; I will quote it."
    if "## Web Results" in observation or "## Scholar Results" in observation:
        link = _first_link(observation)
        if link is not None:
            return "visit", link, "The first result looks relevant; I will read it."
    if observation.startswith("No results found"):
        return "answer", f"The search found nothing about: {question}", "Nothing was found."
    return "answer", f"The research tools failed: {observation[:200]}", "The tools failed."


def _tongyi_turn(question: str, observation: str | None, force: bool) -> str:
    kind, value, thought = next_action(question, observation)
    if force and kind != "answer":
        kind, value, thought = "answer", "No page was read before the research stopped.", thought
    if kind == "search":
        return _call("search", {"query": [value]}, thought)
    if kind == "visit":
        return _call("visit", {"url": [value], "goal": question}, thought)
    return f"<think>{thought}</think>\n<answer>{value}</answer>"


def _native_turn(question: str, observation: str | None, force: bool) -> str | dict[str, Any]:
    kind, value, thought = next_action(question, observation)
    if force or kind == "answer":
        return value if kind == "answer" else "No page was read before the research stopped."
    name, argument = ("web_search", "query") if kind == "search" else ("read_page", "url")
    return {"content": thought, "tool_calls": [{"name": name, "arguments": {argument: value}}]}


def react_turn(payload: dict[str, Any]) -> str | dict[str, Any]:
    """A ReAct turn over the whole conversation (tongyi text or native tool calls)."""
    messages = [m for m in payload.get("messages") or [] if isinstance(m, dict)]
    # the latest question (a follow-up's, after the earlier conversation), without what
    # `--plan` adds after it; only what followed it counts
    asked = [
        i
        for i, m in enumerate(messages)
        if m.get("role") == "user"
        and not message_text(m).startswith(prompts.TOOL_RESPONSE_PREFIX)
        and _ANSWER_NOW not in message_text(m)
        and not message_text(m).startswith(prompts.STEER_NOTE.split("{")[0])
    ]
    start = asked[-1] if asked else 0
    question = (message_text(messages[start]) if asked else "").split("\n\nResearch plan (")[0]
    observation: str | None = None
    assistants = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    last_assistant = assistants[-1] if assistants else -1
    for message in messages[start:]:
        text = message_text(message)
        if message.get("role") == "tool":
            observation = text
        elif message.get("role") == "user" and text.startswith(prompts.TOOL_RESPONSE_PREFIX):
            found = _TOOL_RESPONSE.search(text)
            observation = found.group(1) if found else observation
    later = [message_text(m) for m in messages[last_assistant + 1 :] if m.get("role") == "user"]
    force = any(_ANSWER_NOW in text for text in later)
    if payload.get("tools"):
        return _native_turn(question, observation, force)
    return _tongyi_turn(question, observation, force)


_ROUND_MARK = "\n\nThis research runs in rounds."
_NOTHING_YET = "- Nothing found yet; search for the question."


def iterative_turn(prompt: str) -> str:
    """An iterative-workspace round: the report carries every finding forward."""
    question, _, rest = prompt.partition(_ROUND_MARK)
    report = rest.split("<report>\n", 1)[-1].split("\n</report>", 1)[0].strip()
    last = rest.split("</report>", 1)[-1]
    found = _TOOL_RESPONSE.search(last)
    observation = found.group(1) if found else None
    notes = [] if report in (prompts.ITERATIVE_EMPTY_REPORT, _NOTHING_YET) else [report]
    kind, value, thought = next_action(question, observation)
    if _ANSWER_NOW in last and kind != "answer":
        kind, value = "answer", "No page was read before the research stopped."
    if kind == "visit":
        notes.append(f"- The search for the question found {value} first; to read.")
    elif kind == "answer" and observation is not None and _page_of(observation):
        notes.append(f"- {_page_of(observation)} says: {value}")
    carried = "\n".join(notes) or _NOTHING_YET
    head = f"<think>{thought}</think>\n<report>\n{carried}\n</report>\n"
    if kind == "answer":
        return head + f"<answer>{value}</answer>"
    arguments = {"query": [value]} if kind == "search" else {"url": [value], "goal": question}
    call = json.dumps({"name": kind, "arguments": arguments}, ensure_ascii=False)
    return head + f"<tool_call>\n{call}\n</tool_call>"


def branch_report(prompt: str) -> str:
    """Heavy mode: a branch's trajectory condensed (the calls it made, the answer it gave)."""
    calls = re.findall(r"^\*Tool Call:\* (.+)$", prompt, re.MULTILINE)
    answers = re.findall(r"^\*Answer:\* (.+)$", prompt, re.MULTILINE)
    answer = answers[-1].strip() if answers else "[No Prediction]"
    methods = "\n".join(f"- {call}" for call in calls) or "- no tool calls"
    return (
        "<report>\n## Solution Planning\nSearch the web for the question, read the first "
        f"result, answer from that page.\n\n## Solution Methods\n{methods}\n\n"
        f"## Final Reasoning\nThe page read states the answer.\n\nAnswer: {answer}\n</report>"
    )


def integrate(prompt: str) -> str:
    """Heavy mode: the answer most branch reports agree on (the first on a tie)."""
    answers = re.findall(r"^Answer: (.+)$", prompt, re.MULTILINE)
    answers = [a.strip() for a in answers if a.strip() != "[No Prediction]"]
    if not answers:
        return "<think>No report has an answer.</think>\n<answer>No answer found.</answer>"
    answer, agree = Counter(answers).most_common(1)[0]
    reports = len(re.findall(r"\[Report \d+\]: ", prompt))
    thought = f"{agree} of {reports} reports give this answer, from the page they read."
    return f"<think>{thought}</think>\n<answer>{answer}</answer>"


def _section(prompt: str, name: str) -> str:
    found = re.search(rf"^## {re.escape(name)}\n(.*?)(?=\n## |\Z)", prompt, re.DOTALL | re.M)
    return found.group(1).strip() if found else ""


def write_report(prompt: str) -> str:
    """`--report`: a short report citing each source read for its most relevant sentence."""
    question = _section(prompt, "Question")
    answer = _section(prompt, "Final answer of the research")
    parts = re.split(r"^\[(\d+)\] (\S+)\n?", _section(prompt, "Sources"), flags=re.MULTILINE)
    asked = content_words(question)
    findings = []
    for number, text in zip(parts[1::3], parts[3::3], strict=True):
        evidence = _VISIT_EVIDENCE.search(text + "\n\nSummary: \n")  # a visit result's
        found = sentences(evidence.group(1) if evidence else text)
        relevant = [s for s in found if asked & set(words(s)) and s != answer] or found[:1]
        findings += [f"- {sentence} [{number}]" for sentence in relevant[:3]]
    if findings:  # the answer came from the first page read
        answer = f"{answer[:-1]} [1]." if answer.endswith(".") else f"{answer} [1]"
    body = "\n".join(findings) or "No page was read, so nothing here is sourced."
    return (
        f"# {question}\n\n{answer}\n\n## What the sources say\n\n{body}\n\n"
        "## How this was written\n\nThe offline demo's scripted model wrote this report from "
        "the pages its session read; a real model writes a real one."
    )


# The judges' prompts, told apart by their openings; (gold, predicted) found by patterns.
_JUDGES: list[tuple[str, str, str]] = [
    (prompts.JUDGE_PROMPT_GAIA, r"Labeled Answer: (.*?)\n\nPredicted Answer: ", r"Predicted Answer: (.*?)\n\nDid the model"),  # noqa: E501
    (prompts.JUDGE_PROMPT_BROWSECOMP_OFFICIAL, r"\[correct_answer\]: (.*?)\n\nreasoning:", r"\[response\]: (.*?)\n\nYour judgement"),  # noqa: E501
    (prompts.JUDGE_PROMPT_QA, r".*Gold target: (.*?)\nPredicted answer: ", r".*Predicted answer: (.*?)\n"),  # noqa: E501
    (prompts.JUDGE_PROMPT_XBENCH, r"\[正确答案\]: (.*?)\n", r"\[回答\]:(.*?)\n"),
]  # fmt: skip


def _opening(template: str) -> str:
    return template.split("{", 1)[0][:60]


def judge(prompt: str) -> str | None:
    """A benchmark judge's verdict in its scheme's words: correct when every word of the gold
    answer is in the prediction. None when `prompt` is no judge prompt."""
    for index, (template, gold_re, predicted_re) in enumerate(_JUDGES):
        if not prompt.startswith(_opening(template)):
            continue
        gold = re.search(gold_re, prompt, re.DOTALL)
        predicted = re.search(predicted_re, prompt + "\n", re.DOTALL)
        expected = content_words(gold.group(1)) if gold else set()
        said = set(words(predicted.group(1))) if predicted else set()
        correct = bool(expected) and expected <= said
        if index == 0:
            return "Correct" if correct else "Incorrect"
        if index == 1:
            extracted = predicted.group(1).strip() if predicted else "None"
            return (
                f"extracted_final_answer: {extracted}\n\nreasoning: every word of the correct "
                f"answer {'is' if correct else 'is not'} in the response.\n\n"
                f"correct: {'yes' if correct else 'no'}\n\nconfidence: 100"
            )
        if index == 2:
            return "A" if correct else "B"
        return f"结论: {'正确' if correct else '错误'}"
    return None


def respond(payload: dict[str, Any]) -> str | dict[str, Any]:
    """The demo model's reply to any chat request but page extraction (FakeModel.responder)."""
    messages = [m for m in payload.get("messages") or [] if isinstance(m, dict)]
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    first, last = (users[0], users[-1]) if users else ("", "")
    verdict = judge(first)
    if verdict is not None:
        return verdict
    if first.startswith(_opening(prompts.REPORT_WRITER_PROMPT)):
        return write_report(first)
    if first.startswith(_opening(prompts.REPORT_PROMPT)):
        return branch_report(first)
    if first.startswith((_opening(prompts.INTEGRATE_PROMPT), _opening(prompts.FUSE_PROMPT))):
        return integrate(first)
    if _ROUND_MARK in last:
        return iterative_turn(last)
    return react_turn(payload)


DEMO_PLAN = (
    "<plan>\n1. Search for the question and note the pages that answer it.\n"
    "2. Read the most relevant page and keep the sentences that answer the question.\n"
    "3. Answer with the page as the source.\n</plan>"
)


class DemoModel(FakeModel):
    """The generic demo model: `respond` for research calls; extraction keeps a page's
    sentences most relevant to the goal."""

    def __init__(self, api_key: str | None = None) -> None:
        super().__init__(api_key=api_key)
        self.responder = respond
        self.plans[""] = DEMO_PLAN  # any question (`ask --plan`)

    def _extraction_reply(self, prompt: str) -> tuple[str, dict[str, Any]]:
        _, meta = super()._extraction_reply(prompt)
        goal, webpage = meta["goal"], meta["webpage"]
        found = sentences(webpage)
        asked = content_words(goal)
        relevant = [s for s in found if asked & set(words(s))] or found[:2]
        answer = {
            "rational": "The page's sentences that share words with the goal.",
            "evidence": " ".join(relevant[:4]) or webpage[:300],
            "summary": best_sentence(webpage, goal) or "The page says nothing on the goal.",
        }
        return json.dumps(answer, ensure_ascii=False), meta


class DemoFakes:
    """The demo's three loopback servers, started and stopped together."""

    def __init__(self) -> None:
        self.jina = DemoJina()
        self.serper = DemoSerper()
        self.model = DemoModel()

    def start(self) -> DemoFakes:
        self.jina.start()
        self.serper.page_base = f"{self.jina.url}/"
        self.serper.start()
        self.model.start()
        return self

    def stop(self) -> None:
        for server in (self.model, self.serper, self.jina):
            server.stop()

    def __enter__(self) -> DemoFakes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The environment that points deepresearch at these fakes."""
        return {
            "OPENAI_BASE_URL": f"{self.model.url}/v1",
            "OPENAI_API_KEY": "demo",
            "DEEPRESEARCH_MODEL": MODEL,
            "SERPER_API_KEY": self.serper.api_key,
            "SERPER_BASE_URL": self.serper.url,
            "JINA_API_KEY": self.jina.api_key or "",
            "JINA_BASE_URL": self.jina.url,
            "DEEPRESEARCH_ALLOW_LOOPBACK": "1",
        }


__all__ = ["DemoFakes", "DemoJina", "DemoModel", "DemoSerper", "respond", "sentences"]
