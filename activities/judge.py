"""LLM-as-judge grading of benchmark answers, with the reference evaluation's prompts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final, Literal

from pydantic import BaseModel
from temporalio import activity

from activities.context import ModelEndpoint
from activities.errors import ConfigurationError
from activities.llm import chat
from graphs import prompts
from graphs.prompts import (
    JUDGE_PROMPT_BROWSECOMP_OFFICIAL,
    JUDGE_PROMPT_GAIA,
    JUDGE_PROMPT_QA,
    JUDGE_PROMPT_XBENCH,
)
from graphs.state import Sampling

# The prompts live in graphs/prompts/judges.py (reproduced from the reference's
# evaluation/prompt.py); each is formatted with question, correct_answer and response.

Scheme = Literal["gaia", "browsecomp", "qa", "xbench"]

PROMPTS: Final[dict[str, str]] = {
    "gaia": JUDGE_PROMPT_GAIA,
    "browsecomp": JUDGE_PROMPT_BROWSECOMP_OFFICIAL,
    "qa": JUDGE_PROMPT_QA,
    "xbench": JUDGE_PROMPT_XBENCH,
}

# Benchmark name -> scheme, as evaluate_deepsearch_official.py chooses its judge prompt. Its
# argparse choices stop at gaia, browsecomp_zh, browsecomp_en_full, webwalker and
# xbench-deepsearch; names beginning "browsecomp" take the BrowseComp grader (it tests
# startswith), anything unknown the GAIA prompt (its else branch). SimpleQA is not among its
# choices: it gets SimpleQA's own grader, the JUDGE_PROMPT_QA that prompt.py carries for it.
SCHEMES: Final[dict[str, Scheme]] = {
    "gaia": "gaia",
    "webwalker": "gaia",
    "webwalkerqa": "gaia",
    "frames": "gaia",
    "browsecomp": "browsecomp",
    "browsecomp_en": "browsecomp",
    "browsecomp_en_full": "browsecomp",
    "browsecomp_zh": "browsecomp",
    "simpleqa": "qa",
    "qa": "qa",
    "xbench": "xbench",
    "xbench-deepsearch": "xbench",
}
DEFAULT_SCHEME: Final[Scheme] = "gaia"

# Predictions a session writes when it has no answer (react_agent.py's "No answer found." and
# 150-minute timeout text, run_multi_react.py's "[Failed]" for a crashed rollout). The reference
# sends them to the judge anyway; they can never match a gold answer, so we spare the call.
FAILED_PREDICTIONS: Final[frozenset[str]] = frozenset(
    {"", prompts.FAILED_PREDICTION, prompts.NO_ANSWER_FOUND, prompts.TERMINATION_TIME_LIMIT}
)

# The label a scheme gives an answer that is not there (the grader's own word for it).
_MISSING_LABEL: Final[dict[str, str]] = {
    "gaia": "Incorrect",
    "browsecomp": "no",
    "qa": "NOT_ATTEMPTED",
    "xbench": "错误",
}

# Deterministic grading: the reference leaves the judge's sampling at the provider default, we
# pin temperature 0 so a rerun grades the same. 8192 tokens is the reference's cap for Gemini.
JUDGE_SAMPLING: Final[Sampling] = Sampling(
    temperature=0.0, top_p=1.0, presence_penalty=0.0, max_tokens=8192
)


class Verdict(BaseModel):
    """A judge's decision: `label` is the grader's own word ("" when its reply could not be
    read, which counts as incorrect, as the reference counts an unreadable or failed judgement);
    `raw` is its reply ("" when no judge was asked)."""

    correct: bool
    label: str
    raw: str
    judge_error: bool = False  # no reply could be read, after JUDGE_READ_ATTEMPTS asks


class JudgeRequest(BaseModel):
    """Input of the judge activity: no secrets, the endpoint is the worker's."""

    scheme: Scheme
    question: str
    answer: str
    prediction: str


def scheme_for(benchmark: str) -> Scheme:
    """The scheme for a benchmark (or scheme) name, falling back as the reference does."""
    name = benchmark.strip().lower()
    if name in SCHEMES:
        return SCHEMES[name]
    if name.startswith("browsecomp"):
        return "browsecomp"
    if name.startswith("xbench"):
        return "xbench"
    return DEFAULT_SCHEME


def judge_messages(
    scheme: Scheme, question: str, answer: str, prediction: str
) -> list[dict[str, Any]]:
    """The single user message the reference sends (it strips the prediction first)."""
    prompt = PROMPTS[scheme].format(
        question=question, correct_answer=answer, response=prediction.strip()
    )
    return [{"role": "user", "content": prompt}]


def _final_text(text: str) -> str:
    """The reply without its reasoning: judges served with a reasoning model may think aloud."""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    return text.strip()


def _json_object(text: str) -> dict[str, Any] | None:
    """The reply as a JSON object (bare or fenced): the reference binds judges to a schema."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_GAIA_RE = re.compile(r"\b(not\s+correct|incorrect|correct)\b", re.IGNORECASE)
_YES_NO_RE = re.compile(r"^[\s*#>_-]*correct[\s*_]*[:：][\s*_\"']*(yes|no)\b", re.I | re.M)
_QA_LETTER_RE = re.compile(r"^([ABC])(?![A-Za-z])")
_QA_WORD_RE = re.compile(r"\b(not[_ ]attempted|incorrect|correct)\b", re.IGNORECASE)
_QA_LETTERS: Final[dict[str, str]] = {"A": "CORRECT", "B": "INCORRECT", "C": "NOT_ATTEMPTED"}
_XBENCH_RE = re.compile(r"结论[\s*]*[:：][\s*\"'「]*(正确|错误)")
_DECORATION = " \t\r\n*_`'\".:()[]"


def _parse_gaia(text: str) -> str:
    """'Correct' / 'Incorrect', in any case and amid other words; when both words (or 'not
    correct') appear the answer is judged incorrect: an unsure judge gives no credit."""
    bare = text.strip(_DECORATION).lower()
    if bare in ("correct", "incorrect"):
        return bare.capitalize()
    words = {match.lower().split()[0] for match in _GAIA_RE.findall(text)}
    if words & {"incorrect", "not"}:
        return "Incorrect"
    return "Correct" if words else ""


def _parse_browsecomp(text: str) -> str:
    """The grader's `correct: yes|no` line, or the `correct` field of the reference's JSON."""
    data = _json_object(text)
    if data is not None and str(data.get("correct", "")).strip().lower() in ("yes", "no"):
        return str(data["correct"]).strip().lower()
    lines = _YES_NO_RE.findall(text)
    return lines[-1].lower() if lines else ""


def _parse_qa(text: str) -> str:
    """A letter (the reference counts a reply starting with "a" as correct) or the grade's
    name; a lone lower-case letter is read too, a sentence starting with "a" is not."""
    bare = text.strip(_DECORATION)
    if bare.upper() in _QA_LETTERS and len(bare) == 1:
        return _QA_LETTERS[bare.upper()]
    letter = _QA_LETTER_RE.match(bare)
    if letter:
        return _QA_LETTERS[letter.group(1)]
    words = {w.lower().replace(" ", "_") for w in _QA_WORD_RE.findall(text)}
    for label in ("not_attempted", "incorrect", "correct"):
        if label in words:
            return label.upper()
    return ""


def _parse_xbench(text: str) -> str:
    """The 结论 (conclusion) field, from JSON as the reference requests it or from the lines."""
    data = _json_object(text)
    if data is not None and str(data.get("结论", "")).strip() in ("正确", "错误"):
        return str(data["结论"]).strip()
    found = _XBENCH_RE.findall(text)
    return found[-1] if found else ""


_PARSERS: Final[dict[str, Callable[[str], str]]] = {
    "gaia": _parse_gaia,
    "browsecomp": _parse_browsecomp,
    "qa": _parse_qa,
    "xbench": _parse_xbench,
}
_CORRECT: Final[dict[str, str]] = {
    "gaia": "Correct",
    "browsecomp": "yes",
    "qa": "CORRECT",
    "xbench": "正确",
}


def parse_verdict(scheme: Scheme, text: str) -> Verdict:
    """Read a judge's reply leniently (case, markdown, surrounding words, a <think> block);
    anything unreadable is incorrect with an empty label."""
    label = _PARSERS[scheme](_final_text(text))
    return Verdict(correct=label == _CORRECT[scheme], label=label, raw=text)


def is_failed(prediction: str) -> bool:
    """Whether a prediction is the placeholder of a session that found no answer."""
    return prediction.strip() in FAILED_PREDICTIONS


JUDGE_READ_ATTEMPTS = 3  # asks of a judge whose reply holds no verdict we can read


async def judge(
    endpoint: ModelEndpoint, scheme: Scheme, question: str, answer: str, prediction: str
) -> Verdict:
    """Grade one prediction against the gold answer with the scheme's prompt (temperature 0).
    A reply with no readable verdict is asked again, then marked `judge_error` (left out of
    the scores, not counted as incorrect). Model errors propagate as the classified
    ApplicationErrors `chat` raises (retried by Temporal); a failed prediction is graded
    incorrect without a call."""
    if is_failed(prediction):
        return Verdict(correct=False, label=_MISSING_LABEL[scheme], raw="")
    messages = judge_messages(scheme, question, answer, prediction)
    verdict = Verdict(correct=False, label="", raw="")
    for _ in range(JUDGE_READ_ATTEMPTS):
        result = await chat(endpoint, messages, JUDGE_SAMPLING, temperature=0.0)
        verdict = parse_verdict(scheme, result.text)
        if verdict.label:
            return verdict
    return verdict.model_copy(update={"judge_error": True})


_judge: ModelEndpoint | None = None


def install_judge(endpoint: ModelEndpoint | None) -> None:
    """Set (or clear, with None) the endpoint the judge activity grades with; the worker that
    hosts it builds one from DEEPRESEARCH_JUDGE_MODEL, tests point it at a fake."""
    global _judge
    _judge = endpoint


def current_judge() -> ModelEndpoint:
    if _judge is None:
        raise ConfigurationError(
            "No judge model installed: set DEEPRESEARCH_JUDGE_MODEL (the model that grades "
            "answers, on the OpenAI-compatible endpoint) for `deepresearch eval`."
        )
    return _judge


@activity.defn(name="eval.judge")
async def judge_activity(request: JudgeRequest) -> Verdict:
    """Grade one rollout's prediction on the installed judge endpoint."""
    return await judge(
        current_judge(), request.scheme, request.question, request.answer, request.prediction
    )
