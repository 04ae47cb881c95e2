"""The LLM judge: the reference's prompts, lenient verdict parsing, and grading through a fake."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import judge as judging
from activities.context import ModelEndpoint
from activities.errors import ConfigurationError
from activities.judge import (
    JUDGE_PROMPT_BROWSECOMP_OFFICIAL,
    JUDGE_PROMPT_GAIA,
    JUDGE_PROMPT_QA,
    JUDGE_PROMPT_XBENCH,
    JUDGE_READ_ATTEMPTS,
    SCHEMES,
    JudgeRequest,
    Scheme,
    Verdict,
    current_judge,
    install_judge,
    judge,
    judge_activity,
    judge_messages,
    parse_verdict,
    scheme_for,
)
from graphs import prompts
from tests.fakes import FakeModel
from tests.unit.test_prompts import DIGESTS

Endpoints = Callable[..., ModelEndpoint]

QUESTION = "Which river flows through the city where the 1936 Winter Olympics were held?"
GOLD = "Partnach"

# -- the prompts, as evaluation/prompt.py holds them (pasted from commit f72f75d8) ---------------

GAIA_TEXT = (
    "You are an evaluation assistant. Please determine if the predicted answer is equivalent to "
    "the labeled answer.\n\nQuestion: {question}\n\nLabeled Answer: {correct_answer}\n\n"
    "Predicted Answer: {response}\n\nDid the model give an answer **equivalent** to the labeled "
    'answer? Please respond with "Correct" if they are equivalent, or "Incorrect" if they are '
    "not equivalent. Do not include any other text."
)

BROWSECOMP_PARTS = [
    "Judge whether the following [response] to [question] is correct or not based on the "
    "precise and unambiguous [correct_answer] below.\n\n[question]: {question}\n\n"
    "[response]: {response}\n\nYour judgement must be in the format and criteria specified "
    "below:\n\nextracted_final_answer: The final exact answer extracted from the [response]. "
    "Put the extracted answer as 'None' if there is no exact, final answer to extract from the "
    "response.\n\n[correct_answer]: {correct_answer}\n\n",
    "correct: Answer 'yes' if extracted_final_answer matches the [correct_answer] given above, or "
    "is within a small margin of error for numerical problems. Answer 'no' otherwise, i.e. if "
    "there if there is any inconsistency, ambiguity, non-equivalency, or if the extracted answer "
    "is incorrect.\n\n",
    "confidence: The extracted confidence score between 0|\\%| and 100|\\%| from [response]. "
    "Put 100 if there is no confidence score available.",
]

QA_PARTS = [
    "Your job is to look at a question, a gold target, and a predicted answer, and then assign a "
    'grade of either ["CORRECT", "INCORRECT", "NOT_ATTEMPTED"].\n',
    "Predicted answer 4: I think it's either Malia and Sasha. Or it could be Malia and Jackie. "
    "Or it could be Joey and Malia.\nPredicted answer 4: While I don't know their exact names",
    'with gold target "120k". \n    - Predicted answers "120k", "124k", and 115k" are all '
    'CORRECT. \n    - Predicted answers "100k" and "113k" are INCORRECT. \n',
    "if it's clearly the same name. \n",
    "```\nQuestion: {question}\nGold target: {correct_answer}\nPredicted answer: {response}\n"
    "```\n\nGrade the predicted answer of this new question as one of:\nA: CORRECT\n"
    "B: INCORRECT\nC: NOT_ATTEMPTED\n\n"
    'Just return the letters "A", "B", or "C", with no text around it.',
]

XBENCH_PARTS = [
    "你是一个通用人工智能助手。根据下面给出的[正确答案], "
    "判断以下对[原问题]的[回答]的回答是否正确。",
    "[原问题]: {question}\n\n[正确答案]: {correct_answer}\n\n[回答]:{response}\n\n",
    "则填写'正确'; 否则（即存在任何不一致、歧义、不等价或提取出的答案错误的情况）填写'错误'。",
]


def test_gaia_prompt_is_the_reference() -> None:
    assert JUDGE_PROMPT_GAIA == GAIA_TEXT


def test_browsecomp_prompt_is_the_reference() -> None:
    for part in BROWSECOMP_PARTS:
        assert part in JUDGE_PROMPT_BROWSECOMP_OFFICIAL
    assert JUDGE_PROMPT_BROWSECOMP_OFFICIAL.startswith(BROWSECOMP_PARTS[0])
    assert JUDGE_PROMPT_BROWSECOMP_OFFICIAL.endswith(BROWSECOMP_PARTS[-1])


def test_qa_prompt_is_the_reference() -> None:
    for part in QA_PARTS:
        assert part in JUDGE_PROMPT_QA
    assert JUDGE_PROMPT_QA.startswith(QA_PARTS[0])  # the reference strips the leading newline
    assert JUDGE_PROMPT_QA.endswith(QA_PARTS[-1])


def test_xbench_prompt_is_the_reference() -> None:
    for part in XBENCH_PARTS:
        assert part in JUDGE_PROMPT_XBENCH
    assert JUDGE_PROMPT_XBENCH.startswith(XBENCH_PARTS[0])
    assert JUDGE_PROMPT_XBENCH.endswith(XBENCH_PARTS[-1])


JUDGE_PROMPTS = ("JUDGE_PROMPT_BROWSECOMP_OFFICIAL", "JUDGE_PROMPT_GAIA", "JUDGE_PROMPT_QA",
                 "JUDGE_PROMPT_XBENCH")  # fmt: skip


@pytest.mark.parametrize("name", JUDGE_PROMPTS)
def test_the_judge_uses_the_reference_prompts(name: str) -> None:
    """Byte for byte the reference's (their digests, with the others', are checked once, in
    tests/unit/test_prompts.py): the judge sends those very constants, stripped as the
    reference strips them."""
    value: str = getattr(judging, name)
    assert value is getattr(prompts, name) and name in DIGESTS
    assert value == value.strip()


def test_schemes_follow_the_reference() -> None:
    assert SCHEMES["gaia"] == SCHEMES["webwalker"] == "gaia"
    assert SCHEMES["browsecomp_en"] == SCHEMES["browsecomp_zh"] == "browsecomp"
    assert scheme_for("browsecomp") == scheme_for("BrowseComp_en_full") == "browsecomp"
    assert scheme_for("browsecomp_zh_small") == "browsecomp"  # startswith, as the reference
    assert scheme_for("xbench-deepsearch") == "xbench"
    assert scheme_for("simpleqa") == "qa"
    assert scheme_for("frames") == scheme_for("hle-search") == "gaia"  # the reference's default


def test_judge_messages_fill_the_template() -> None:
    (message,) = judge_messages("gaia", QUESTION, GOLD, "  the Partnach \n")
    assert message["role"] == "user"
    assert message["content"] == GAIA_TEXT.format(
        question=QUESTION, correct_answer=GOLD, response="the Partnach"
    )
    braces = judge_messages("browsecomp", "What is {x}?", "{y}", "{z}")[0]["content"]
    assert "[question]: What is {x}?" in braces and "[correct_answer]: {y}" in braces


# -- parsing ------------------------------------------------------------------------------------

GAIA_CASES = [
    ("Correct", True, "Correct"),
    ("Incorrect", False, "Incorrect"),
    ("correct.", True, "Correct"),
    ("**INCORRECT**", False, "Incorrect"),
    ('"Correct"\n', True, "Correct"),
    ("The predicted answer is correct.", True, "Correct"),
    ("The answer is not correct.", False, "Incorrect"),
    (
        "<think>Partnach equals the Partnach, so Incorrect is wrong.</think>\nCorrect",
        True,
        "Correct",
    ),
    ("Correct? No: Incorrect", False, "Incorrect"),
    ("I cannot tell.", False, ""),
]

BROWSECOMP_CASES = [
    (
        "extracted_final_answer: Partnach\n\nreasoning: The response names the same river; "
        "it is correct.\n\ncorrect: yes\n\nconfidence: 90",
        True,
        "yes",
    ),
    (
        "extracted_final_answer: Loisach\nreasoning: differs\ncorrect: no\nconfidence: 80",
        False,
        "no",
    ),
    ("**correct:** Yes\n**confidence:** 100%", True, "yes"),
    ("Correct: NO", False, "no"),
    (
        '{"extracted_final_answer": "Partnach", "reasoning": "same", "correct": "yes", '
        '"confidence": 95, "strict": true}',
        True,
        "yes",
    ),
    ('```json\n{"correct": "no", "confidence": 100}\n```', False, "no"),
    ("reasoning: it is correct: yes indeed", False, ""),  # not the grader's line
    ("I think the answer is right.", False, ""),
]

QA_CASES = [
    ("A", True, "CORRECT"),
    ("B", False, "INCORRECT"),
    ("C", False, "NOT_ATTEMPTED"),
    ("a", True, "CORRECT"),
    (" (B) ", False, "INCORRECT"),
    ("A: CORRECT", True, "CORRECT"),
    ("**C**", False, "NOT_ATTEMPTED"),
    ("CORRECT", True, "CORRECT"),
    ("INCORRECT", False, "INCORRECT"),
    ("NOT ATTEMPTED", False, "NOT_ATTEMPTED"),
    ("The grade is NOT_ATTEMPTED.", False, "NOT_ATTEMPTED"),
    ("<think>gold is Partnach</think>A", True, "CORRECT"),
    ("a sentence that grades nothing", False, ""),
]

XBENCH_CASES = [
    ("最终答案: Partnach\n解释: 一致\n结论: 正确", True, "正确"),
    ("最终答案: 无\n解释: 没有答案\n结论：错误", False, "错误"),
    ('{"最终答案": "Partnach", "解释": "一致", "结论": "正确"}', True, "正确"),
    ("无法判断", False, ""),
]

CASES: list[tuple[Scheme, str, bool, str]] = [
    *[("gaia", *case) for case in GAIA_CASES],
    *[("browsecomp", *case) for case in BROWSECOMP_CASES],
    *[("qa", *case) for case in QA_CASES],
    *[("xbench", *case) for case in XBENCH_CASES],
]


@pytest.mark.parametrize(("scheme", "text", "correct", "label"), CASES)
def test_parse_verdict(scheme: Scheme, text: str, correct: bool, label: str) -> None:
    assert parse_verdict(scheme, text) == Verdict(correct=correct, label=label, raw=text)


# -- grading through the fake model -------------------------------------------------------------


@pytest.fixture
def endpoint(model: FakeModel, endpoint_for: Endpoints) -> ModelEndpoint:
    return endpoint_for(model)


@pytest.fixture
def installed(endpoint: ModelEndpoint) -> Iterator[ModelEndpoint]:
    install_judge(endpoint)
    try:
        yield endpoint
    finally:
        install_judge(None)


async def test_judge_calls_the_model_at_temperature_zero(
    model: FakeModel, endpoint: ModelEndpoint
) -> None:
    model.scripts[QUESTION] = ["Correct"]  # the fake finds the question inside the prompt
    verdict = await judge(endpoint, "gaia", QUESTION, GOLD, "The Partnach.")
    assert verdict == Verdict(correct=True, label="Correct", raw="Correct")
    (record,) = model.research_requests()
    assert record.body["messages"] == judge_messages("gaia", QUESTION, GOLD, "The Partnach.")
    assert record.body["temperature"] == 0.0


@pytest.mark.parametrize(
    ("scheme", "reply", "correct", "label"),
    [
        ("browsecomp", "extracted_final_answer: Loisach\nreasoning: no\ncorrect: no", False, "no"),
        ("qa", "C", False, "NOT_ATTEMPTED"),
        ("xbench", "结论: 正确", True, "正确"),
    ],
)
async def test_judge_each_scheme(
    model: FakeModel, endpoint: ModelEndpoint, scheme: Scheme, reply: str, correct: bool, label: str
) -> None:
    model.scripts[QUESTION] = [reply]
    verdict = await judge(endpoint, scheme, QUESTION, GOLD, "some river")
    assert (verdict.correct, verdict.label, verdict.raw) == (correct, label, reply)
    (record,) = model.research_requests()
    assert record.body["messages"][0]["content"].startswith(
        judge_messages(scheme, QUESTION, GOLD, "some river")[0]["content"][:40]
    )


@pytest.mark.parametrize(
    ("scheme", "label"),
    [("gaia", "Incorrect"), ("browsecomp", "no"), ("qa", "NOT_ATTEMPTED"), ("xbench", "错误")],
)
@pytest.mark.parametrize(
    "prediction", ["", "   ", "[Failed]", "No answer found.", "No answer found after 2h30mins"]
)
async def test_failed_predictions_are_judged_without_a_call(
    model: FakeModel, endpoint: ModelEndpoint, scheme: Scheme, label: str, prediction: str
) -> None:
    model.scripts[QUESTION] = ["Correct"]
    verdict = await judge(endpoint, scheme, QUESTION, GOLD, prediction)
    assert verdict == Verdict(correct=False, label=label, raw="")
    assert model.research_requests() == []


async def test_model_errors_propagate_classified(model: FakeModel, endpoint: ModelEndpoint) -> None:
    with pytest.raises(ApplicationError) as raised:  # no script: the fake answers HTTP 400
        await judge(endpoint, "gaia", "an unscripted question", GOLD, "x")
    assert raised.value.non_retryable


async def test_activity_uses_the_installed_judge(
    model: FakeModel, installed: ModelEndpoint
) -> None:
    model.scripts[QUESTION] = ["Incorrect"]
    request = JudgeRequest(scheme="gaia", question=QUESTION, answer=GOLD, prediction="Loisach")
    verdict = await ActivityEnvironment().run(judge_activity, request)
    assert verdict == Verdict(correct=False, label="Incorrect", raw="Incorrect")
    assert current_judge() is installed
    assert judge_activity.__temporal_activity_definition.name == "eval.judge"  # type: ignore[attr-defined]


async def test_activity_without_a_judge_names_the_setting() -> None:
    install_judge(None)
    request = JudgeRequest(scheme="qa", question=QUESTION, answer=GOLD, prediction="Partnach")
    with pytest.raises(ConfigurationError, match="DEEPRESEARCH_JUDGE_MODEL"):
        await ActivityEnvironment().run(judge_activity, request)
    assert judging._judge is None


async def test_an_unreadable_reply_is_asked_again(
    model: FakeModel, endpoint: ModelEndpoint
) -> None:
    model.scripts[QUESTION] = ["I cannot tell.", "Correct"]
    model.turn_of = lambda payload: len(model.research_requests())  # the n-th ask, not the turn
    verdict = await judge(endpoint, "gaia", QUESTION, GOLD, "The Partnach.")
    assert verdict == Verdict(correct=True, label="Correct", raw="Correct")
    assert len(model.research_requests()) == 2


async def test_a_reply_that_stays_unreadable_is_a_judge_error(
    model: FakeModel, endpoint: ModelEndpoint
) -> None:
    """Not silently Incorrect: marked, so the metrics leave it out and report it."""
    model.scripts[QUESTION] = ["I cannot tell."] * 5
    verdict = await judge(endpoint, "gaia", QUESTION, GOLD, "The Partnach.")
    assert verdict.judge_error and not verdict.correct and verdict.label == ""
    assert len(model.research_requests()) == JUDGE_READ_ATTEMPTS
