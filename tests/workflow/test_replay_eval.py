"""Evaluation on a frozen web: an eval run, then the same dataset with `--replay-from` while
the search and page providers are unreachable: every question completes from the tape, the
model's requests byte-identical to the first run's; another model's run lists what changed
(its answers, the setting) and fails the question whose new search the tape lacks, which
`--on-miss live` sends to the provider instead."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Stack
from tests.fakes import FakeModel
from tests.workflow.test_session import call

TURING, CAPITAL = "Who won the 2024 Turing Award?", "What is the capital of Australia?"
DOWN = {"SERPER_BASE_URL": "http://127.0.0.1:9", "JINA_BASE_URL": "http://127.0.0.1:9"}


def script(stack: Stack) -> None:
    page = f"{stack.jina.url}/page/turing-1"
    stack.script(
        TURING,
        [call("search", {"query": [TURING]}), call("visit", {"url": [page], "goal": "who"}),
         "<answer>Barto and Sutton</answer>"],
    )  # fmt: skip
    stack.script(CAPITAL, [call("search", {"query": [CAPITAL]}), "<answer>Canberra</answer>"])
    # another model: the same evidence for one question, a search the tape lacks for the other
    stack.script(
        f"other:{TURING}",
        [call("search", {"query": [TURING]}), call("visit", {"url": [page], "goal": "who"}),
         "<answer>Sutton and Barto</answer>"],
    )  # fmt: skip
    stack.script(
        f"other:{CAPITAL}",
        [call("search", {"query": ["canberra history"]}), "<answer>Canberra</answer>"],
    )

    def key(payload: dict[str, Any]) -> str | None:
        if payload.get("model") != "other-model":
            return None
        users = [m.get("content") for m in payload["messages"] if m.get("role") == "user"]
        return f"other:{users[0]}" if users and isinstance(users[0], str) else None

    stack.model.script_key = key


def run(stack: Stack, dataset: Path, out: Path, *args: str, **env: str) -> Any:
    command = ["eval", str(dataset), "--rollouts", "1", "--concurrency", "2", "--out", str(out)]
    return stack.cli(*command, *args, timeout=300, **env)


def requests_of(stack: Stack, model: str) -> list[str]:
    bodies = [r.body for r in stack.model.research_requests() if r.body.get("model") == model]
    return sorted(json.dumps(b, ensure_ascii=False, sort_keys=True) for b in bodies)


def test_replay_on_the_tape_of_an_earlier_run(stack: Stack, tmp_path: Path) -> None:
    script(stack)
    dataset = tmp_path / "two.jsonl"
    dataset.write_text(
        "".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in
                ((TURING, "Barto and Sutton"), (CAPITAL, "Canberra")))
    )  # fmt: skip
    with FakeModel() as judge:
        judge.scripts[TURING] = ["Correct"]
        judge.scripts[CAPITAL] = ["Correct"]
        stack.env["DEEPRESEARCH_JUDGE_BASE_URL"] = f"{judge.url}/v1"
        stack.env["DEEPRESEARCH_JUDGE_MODEL"] = "judge-model"
        first = run(stack, dataset, tmp_path / "first")
        assert first.returncode == 0, first.stderr
        recorded = requests_of(stack, "fake-model")
        assert len(recorded) == 5
        searches, reads = len(stack.serper.queries()), len(stack.jina.read_targets())
        extractions = len(stack.model.extraction_requests())

        replay = run(stack, dataset, tmp_path / "same", "--replay-from", str(tmp_path / "first"),
                     **DOWN)  # fmt: skip
        assert replay.returncode == 0, replay.stderr
        assert "replaying" in replay.stderr and "3 recorded requests" in replay.stderr
        compared = json.loads((tmp_path / "same" / "replay.json").read_text())
        assert compared["failed"] == 0 and compared["answers_changed"] == 0
        assert compared["settings_changed"] == {}
        assert compared["score_before"] == compared["score_after"] == 100.0
        assert [row["steps_before"] for row in compared["questions"]] == [3, 2]
        assert [row["steps_after"] for row in compared["questions"]] == [3, 2]
        # no provider and no extraction call; the model asked exactly what it asked before
        assert len(stack.serper.queries()) == searches and len(stack.jina.read_targets()) == reads
        assert len(stack.model.extraction_requests()) == extractions
        assert requests_of(stack, "fake-model") == sorted(recorded * 2)
        assert (tmp_path / "same" / "replay.png").stat().st_size > 0
        again = run(stack, dataset, tmp_path / "same", "--replay-from", str(tmp_path / "first"),
                    **DOWN)  # fmt: skip
        assert again.returncode == 0, again.stderr  # re-attached: its sessions are not redone
        assert json.loads((tmp_path / "same" / "replay.json").read_text()) == compared
        assert requests_of(stack, "fake-model") == sorted(recorded * 2)
        shown = stack.cli("show", compared["questions"][0]["session_id"])
        assert shown.stdout.count("replayed from its tape") == 2, shown.stdout  # search, read

        other = run(stack, dataset, tmp_path / "other", "--replay-from", str(tmp_path / "first"),
                    DEEPRESEARCH_MODEL="other-model", **DOWN)  # fmt: skip
        assert other.returncode == 0, other.stderr
        changed = json.loads((tmp_path / "other" / "replay.json").read_text())
        assert changed["settings_changed"] == {"model": ["fake-model", "other-model"]}
        turing, capital = changed["questions"]
        assert turing["answer_changed"] and turing["answer_after"] == "Sutton and Barto"
        assert turing["error"] is None and turing["steps_after"] == 3
        assert (
            capital["error"]
            and "not on the replay's tape: search 'canberra history'" in (capital["error"])
        )
        assert "setting changed: model" in other.stdout and "failed: " in other.stdout
        assert len(stack.serper.queries()) == searches  # nothing went out

        live = run(stack, dataset, tmp_path / "live", "--replay-from", str(tmp_path / "first"),
                   "--on-miss", "live", DEEPRESEARCH_MODEL="other-model")  # fmt: skip
        assert live.returncode == 0, live.stderr
        went = json.loads((tmp_path / "live" / "replay.json").read_text())
        assert went["failed"] == 0
        assert stack.serper.queries()[searches:] == ["canberra history"]  # the miss alone
        assert len(stack.jina.read_targets()) == reads


def test_replay_refusals_are_one_line(stack: Stack, tmp_path: Path) -> None:
    dataset = tmp_path / "one.jsonl"
    dataset.write_text(json.dumps({"question": TURING, "answer": "x"}) + "\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    for source, expected in (
        (str(empty), "no evaluation there (no eval.json)"),
        ("s-none", "session 's-none' is not on the server"),
    ):
        result = run(stack, dataset, tmp_path / "out", "--replay-from", source)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and len(result.stderr.splitlines()) == 1
    bad = run(stack, dataset, tmp_path / "out", "--replay-from", "s-none", "--on-miss", "maybe")
    assert bad.returncode == 2 and "--on-miss is fail or live" in bad.stderr
