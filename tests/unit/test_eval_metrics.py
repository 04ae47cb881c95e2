"""Benchmark scores over rollouts (against the reference's own formulas) and dataset loading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table

from workers.eval.data import EvalItem, load_dataset, split_uploads
from workers.eval.metrics import Scored, Summary, render_table, summarize, write_summary

# -- the reference's scoring, pasted from evaluation/evaluate_deepsearch_official.py ------------
# (Alibaba-NLP/DeepResearch at f72f75d8c3eb842f2bbbab096a12206ff66e270f, Apache-2.0), unchanged
# but for formatting, to check our generalisation gives its numbers on three rounds.
ROUNDS = ["round1", "round2", "round3"]


def ref_pass_at_k(query_results: dict[str, Any], k: int = 10) -> float:
    total_correct = 0
    for _query, results in query_results.items():
        rounds = [results["round1"], results["round2"], results["round3"]][:k]
        if "Correct" in rounds:
            total_correct += 1
    overall_pass = total_correct / len(query_results)
    return round(overall_pass * 100, 2)


def ref_best_pass_at_1(query_results: dict[str, Any]) -> float:
    round_correct = {round_name: 0 for round_name in ROUNDS}
    for _query, results in query_results.items():
        for round_name in ROUNDS:
            if results[round_name] == "Correct":
                round_correct[round_name] += 1
    overall_best = max(round_correct[round_name] / len(query_results) for round_name in ROUNDS)
    return round(overall_best * 100, 2)


def ref_avg_pass_at_3(query_results: dict[str, Any]) -> float:
    total_correct = {round_name: 0 for round_name in ROUNDS}
    for _query, results in query_results.items():
        for round_name in ROUNDS:
            if results[round_name] == "Correct":
                total_correct[round_name] += 1
    avg_overall = sum(total_correct[r] / len(query_results) for r in ROUNDS) / len(ROUNDS)
    return round(avg_overall * 100, 2)


def ref_query_results(records: dict[int, list[Scored]]) -> dict[str, Any]:
    """aggregate_results' shape: question -> round -> "Correct" / a judgement / None."""
    results: dict[str, Any] = {}
    for k, rows in records.items():
        for row in rows:
            entry = results.setdefault(str(row.question_index), dict.fromkeys(ROUNDS))
            entry[f"round{k}"] = "Correct" if row.correct else "Incorrect"
    return results


# -- hand-built rollouts ------------------------------------------------------------------------


def row(q: int, correct: bool, **extra: Any) -> Scored:
    return Scored(question_index=q, correct=correct, **extra)


def rollout(right: set[int], questions: range = range(5)) -> list[Scored]:
    """Question 3 fails in every rollout, as a crashed session does ("[Failed]")."""
    return [
        row(
            q,
            q in right,
            tool_calls=q + 1,
            tokens=100 * (q + 1),
            seconds=10.0,
            termination="answer" if q != 3 else "answer not found",
        )
        for q in questions
    ]


# 5 questions: q0 always right, q1 in rollouts 1-2, q2 in 2-3, q3 never, q4 in rollout 3.
RECORDS = {1: rollout({0, 1}), 2: rollout({0, 1, 2}), 3: rollout({0, 2, 4})}


def test_avg_best_and_pass_at_k_differ() -> None:
    summary = summarize(RECORDS)
    assert (summary.questions, summary.rollouts) == (5, 3)
    assert summary.per_rollout == {1: 40.0, 2: 60.0, 3: 60.0}
    assert summary.avg_pass_at_k == 53.33  # mean of the rollouts' accuracies, in percent
    assert summary.best_pass_at_1 == 60.0
    assert summary.pass_at_k == 80.0  # q3 was never right


def test_matches_the_reference_formulas() -> None:
    results = ref_query_results(RECORDS)
    summary = summarize(RECORDS)
    assert summary.avg_pass_at_k == ref_avg_pass_at_3(results)
    assert summary.best_pass_at_1 == ref_best_pass_at_1(results)
    assert summary.pass_at_k == ref_pass_at_k(results, k=3)


def test_a_question_missing_from_a_rollout_counts_wrong() -> None:
    records = {1: rollout({0, 1}), 2: rollout({0, 1}, range(4)), 3: rollout({0, 4})}
    summary = summarize(records)
    results = ref_query_results(records)
    assert summary.questions == 5
    assert summary.avg_pass_at_k == ref_avg_pass_at_3(results) == 40.0
    assert summary.best_pass_at_1 == ref_best_pass_at_1(results) == 40.0
    assert summary.pass_at_k == ref_pass_at_k(results, k=3) == 60.0
    assert summary.per_rollout[2] == 50.0  # the round's own rows, as round_performance


def test_statistics() -> None:
    summary = summarize(RECORDS)
    assert summary.mean_tool_calls == 3.0  # (1+2+3+4+5)/5 in every rollout
    assert summary.mean_tokens == 300.0
    # correct sessions: r1 q0,q1; r2 q0,q1,q2; r3 q0,q2,q4 -> tool calls 1,2,1,2,3,1,3,5
    assert summary.mean_tool_calls_correct == round(18 / 8, 3)
    assert summary.mean_tokens_correct == 225.0
    assert (summary.total_seconds, summary.mean_seconds) == (150.0, 10.0)
    assert summary.terminations == {"answer": 12, "answer not found": 3}
    assert summary.termination_freq == {"answer": 0.8, "answer not found": 0.2}


def test_duplicate_rows_last_wins() -> None:
    records = {1: [row(0, False), row(0, True), row(1, False)]}
    summary = summarize(records)
    assert summary.questions == 1 + 1
    assert summary.per_rollout == {1: 50.0}
    assert summary.avg_pass_at_k == summary.best_pass_at_1 == summary.pass_at_k == 50.0


def test_single_rollout_and_empty_input() -> None:
    summary = summarize({1: [row(0, True), row(1, False), row(2, False)]})
    assert summary.avg_pass_at_k == summary.best_pass_at_1 == summary.pass_at_k == 33.33
    with pytest.raises(ValueError, match="no judged sessions"):
        summarize({})
    with pytest.raises(ValueError, match="no judged sessions"):
        summarize({1: [], 2: []})


def test_empty_rollout_scores_zero() -> None:
    summary = summarize({1: [row(0, True), row(1, True)], 2: []})
    assert summary.per_rollout == {1: 100.0, 2: 0.0}
    assert summary.avg_pass_at_k == 50.0
    assert summary.mean_tool_calls == 0.0  # averaged over rollouts that have sessions


def test_render_and_write(tmp_path: Path) -> None:
    summary = summarize(RECORDS)
    table = render_table(summary)
    assert isinstance(table, Table)
    console = Console(width=120, record=True)
    console.print(table)
    text = console.export_text()
    for needle in ("Avg. Pass@3", "53.33%", "Best Pass@1", "60.00%", "Pass@3", "80.00%"):
        assert needle in text
    assert "answer not found" in text
    path = tmp_path / "out" / "summary.json"
    write_summary(summary, path)
    assert Summary.model_validate_json(path.read_text()) == summary
    assert json.loads(path.read_text())["avg_pass_at_k"] == 53.33


# -- datasets -----------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_json_list(tmp_path: Path) -> None:
    items = [{"question": " Who? ", "answer": "Me"}, {"question": "How many?", "answer": 42}]
    data = load_dataset(write(tmp_path / "d.json", json.dumps(items)))
    assert data == [
        EvalItem(index=0, question="Who?", answer="Me", files=[]),
        EvalItem(index=1, question="How many?", answer="42", files=[]),
    ]


def test_jsonl_reference_example(tmp_path: Path) -> None:
    # inference/eval_data/example.jsonl, and a blank line
    path = write(
        tmp_path / "example.jsonl",
        '{"question": "Introduce Alibaba web agent ", "answer": ""}\n\n{"question": "Q2"}\n',
    )
    data = load_dataset(path)
    assert [(i.index, i.question, i.answer) for i in data] == [
        (0, "Introduce Alibaba web agent", ""),
        (1, "Q2", ""),
    ]


def test_messages_fallback(tmp_path: Path) -> None:
    lines = [
        {
            "question": "",
            "answer": "a",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "A conversation...\n\nUser: What is 2+2?"},
            ],
        },
        {"answer": "b", "messages": [{"role": "system"}, {"role": "user", "content": "Plain? "}]},
    ]
    path = write(tmp_path / "t.jsonl", "\n".join(json.dumps(x) for x in lines))
    assert [(i.question, i.answer) for i in load_dataset(path)] == [
        ("What is 2+2?", "a"),
        ("Plain?", "b"),
    ]


def test_file_prefix(tmp_path: Path) -> None:
    # inference/eval_data/example_with_file.jsonl with its file_corpus/hello.txt
    write(tmp_path / "file_corpus" / "hello.txt", "hello")
    line = json.dumps({"question": "(Uploaded 1 file: ['hello.txt'])\n\nHello!", "answer": ""})
    (item,) = load_dataset(write(tmp_path / "example_with_file.jsonl", line + "\n"))
    assert item.question == "Hello!"
    assert item.files == [(tmp_path / "file_corpus" / "hello.txt").resolve()]


def test_file_prefix_other_dir_and_several(tmp_path: Path) -> None:
    write(tmp_path / "files" / "a.pdf", "x")
    write(tmp_path / "files" / "b.csv", "y")
    question = "(Uploaded 2 file: ['a.pdf', 'b.csv'])\n\nCompare them."
    path = write(tmp_path / "data" / "d.json", json.dumps([{"question": question, "answer": "z"}]))
    (item,) = load_dataset(path, files_dir=tmp_path / "files")
    assert item.question == "Compare them."
    assert [f.name for f in item.files] == ["a.pdf", "b.csv"]


def test_split_uploads() -> None:
    assert split_uploads("(Uploaded 1 file: ['x.txt'])\n\nQ") == ("Q", ["x.txt"])
    assert split_uploads("Q (Uploaded 1 file: ['x.txt'])") == (
        "Q (Uploaded 1 file: ['x.txt'])",
        [],
    )
    assert split_uploads("(Uploaded 1 file: [oops])\n\nQ") == ("(Uploaded 1 file: [oops])\n\nQ", [])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("d.jsonl", '{"question": "a"}\n{"question": \n', r"d\.jsonl:2: invalid JSON"),
        ("d.json", "[{", r"d\.json: invalid JSON"),
        ("d.json", '{"question": "a"}', "must be a list of objects"),
        ("d.json", "[]", "the dataset has no items"),
        ("d.jsonl", "\n\n", "the dataset has no items"),
        ("d.jsonl", '{"answer": "x"}\n', r"line 1: no question"),
        (
            "d.jsonl",
            '{"question": "a"}\n{"question": "  ", "answer": "x"}\n',
            "line 2: no question",
        ),
        ("d.json", '["just text"]', "item 0: expected a JSON object"),
        ("d.json", '[{"question": "a", "answer": ["x"]}]', "'answer' must be text"),
        ("d.csv", "question,answer\n", "use .json or .jsonl"),
        ("d.jsonl", '{"question": "(Uploaded 1 file: [\'gone.txt\'])\\n\\nQ"}\n', "not found"),
        ("d.jsonl", '{"question": "(Uploaded 1 file: [\'../d.jsonl\'])\\n\\nQ"}\n', "outside"),
        ("d.jsonl", '{"question": "(Uploaded 1 file: [\'x\'])\\n\\n  "}\n', "after the uploaded"),
    ],
)
def test_dataset_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    (tmp_path / "file_corpus").mkdir()
    with pytest.raises(ValueError, match=message) as raised:
        load_dataset(write(tmp_path / name, content))
    assert "\n" not in str(raised.value)


def test_missing_dataset(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dataset not found"):
        load_dataset(tmp_path / "nope.jsonl")


def test_judge_errors_are_left_out_of_the_scores_and_counted() -> None:
    rows = {
        1: [
            Scored(question_index=0, correct=True),
            Scored(question_index=1, correct=False, judge_error=True),
        ]
    }
    summary = summarize(rows)
    assert summary.questions == 1 and summary.avg_pass_at_k == 100.0
    assert summary.judge_errors == 1
    only_errors = summarize({1: [Scored(question_index=0, correct=False, judge_error=True)]})
    assert only_errors.questions == 0 and only_errors.judge_errors == 1
    labels = list(render_table(summary).columns[0].cells)
    assert "judge errors (not scored)" in labels
