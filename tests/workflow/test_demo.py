"""`deepresearch demo`: one command from a checkout to an answer, and `demo --serve`'s fakes
driving ask (ReAct, iterative, Heavy with a report, local search) and eval by hand — all
against the embedded dev server in the demo's own data directory."""

from __future__ import annotations

import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CLI, REPO, Stack

FRANCE = "What is the capital of France?"
PARIS = "Paris is the capital and largest city of France."


def _base_env(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "PYTHONPATH": str(REPO), **extra}


def _stop_dev_server(data_dir: Path) -> None:
    """The demo leaves its dev server running for later commands; a test stops it."""
    state_file = data_dir / "temporal" / "devserver.json"
    if state_file.exists():
        try:
            os.kill(json.loads(state_file.read_text())["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass


def _unwrapped(text: str) -> None:
    """Printed into a pipe, lines longer than 80 columns stay whole (nothing wraps there)."""
    assert any(len(line) > 80 for line in text.splitlines())


def test_demo_answers_any_question_from_the_page_it_read(tmp_path: Path) -> None:
    # Settings of a real set-up in the environment: the demo leaves them alone.
    env = _base_env(tmp_path, TEMPORAL_ADDRESS="127.0.0.1:1", OPENAI_BASE_URL="http://192.0.2.1/v1")
    data_dir = tmp_path / ".deepresearch" / "demo"
    try:
        done = subprocess.run(
            [*CLI, "demo", FRANCE], env=env, cwd=REPO, capture_output=True, text=True, timeout=180
        )
    finally:
        _stop_dev_server(data_dir)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"Question: {FRANCE}"
    assert lines[1] == f"Answer: {PARIS}"  # a sentence of the fake page it read
    session_id = next(line.split()[-1] for line in lines if line.startswith("$ deepresearch show"))
    assert session_id.startswith("demo-")
    assert f"{session_id} · completed · 5 steps · 3 model calls" in lines
    # show, piped: whole lines (the visit call with its goal on one line), whole ids
    visit = [line for line in lines if '"name": "visit"' in line]
    assert len(visit) == 1 and visit[0].endswith(f'"goal": "{FRANCE}"}}}}')
    assert f"       answer: {PARIS}" in lines
    _unwrapped(done.stdout)
    ui = lines[-1]
    assert ui.startswith("Temporal UI: http://127.0.0.1:")
    assert ui.endswith(f"/namespaces/default/workflows/{session_id}")
    assert (data_dir / "temporal" / "devserver.json").exists()  # its own dev server
    assert "~/.deepresearch/demo" in done.stderr


def test_demo_outside_a_checkout_says_so_in_one_line(tmp_path: Path) -> None:
    """Installed without the repository (no tests/fakes beside the packages): exit 2."""
    site = tmp_path / "site"
    skip = shutil.ignore_patterns("__pycache__")
    for package in ("workers", "activities", "graphs"):
        shutil.copytree(REPO / package, site / package, ignore=skip)
    env = _base_env(tmp_path, PYTHONPATH=str(site))
    done = subprocess.run(
        [*CLI, "demo"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: the demo needs a source checkout: its fakes live in tests/fakes, which is not "
        "installed (clone the repository and run `make demo` there)"
    ]


@dataclass
class Served:
    env: dict[str, str]
    data_dir: Path
    output: list[str]

    def cli(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            env={**self.env, **extra},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`deepresearch demo --serve`, and the environment it printed (nothing else)."""
    home = tmp_path_factory.mktemp("home")
    env = _base_env(home, TEMPORAL_ADDRESS="127.0.0.1:1", DEEPRESEARCH_SEARCH="ddgs")
    process = subprocess.Popen(
        [*CLI, "demo", "--serve"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()
    output: list[str] = []
    data_dir = home / ".deepresearch" / "demo"
    try:
        while not output or not output[-1].startswith("Ctrl-C stops the fakes"):
            output.append(lines.get(timeout=60).rstrip("\n"))
        unset = [line for line in output if line.startswith("unset ")]
        assert unset == ["unset DEEPRESEARCH_SEARCH TEMPORAL_ADDRESS"]
        exports = [line for line in output if line.startswith("export ")]
        assert len(exports) == 1  # one line to paste
        assignments = dict(item.split("=", 1) for item in shlex.split(exports[0])[1:])
        assert assignments["DEEPRESEARCH_DATA_DIR"] == str(data_dir)
        assert (data_dir / "demo.env").read_text().splitlines() == [*unset, exports[0]]
        yield Served(_base_env(home, **assignments), data_dir, output)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
            _stop_dev_server(data_dir)


def test_serve_then_ask_any_question(served: Served) -> None:
    done = served.cli("ask", "Who won the 2024 Turing Award and for what?", "--id", "d-react")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("Answer: ACM named Andrew G. Barto and Richard S. Sutton")
    assert lines[3].endswith("/page/turing-award-2024")
    generic = served.cli("ask", "How many moons does Neptune have?")
    assert generic.returncode == 0, generic.stderr
    assert 'The offline demo cannot research "how many moons does neptune have"' in generic.stdout


def test_serve_heavy_report_prints_each_thing_once(served: Served) -> None:
    question = "Who won the 2024 Turing Award and for what?"
    done = served.cli(
        "ask", question, "--id", "d-heavy", "--mode", "heavy", "--branches", "2",
        "--strategy", "iterative,react", "--report",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = (served.data_dir / "reports" / "d-heavy.md").read_text()
    lines = done.stdout.splitlines()
    # the report as written (markdown, not rendered at 80 columns), then one summary line
    assert done.stdout == report.rstrip("\n") + "\n" + lines[-1] + "\n"
    assert lines[0] == f"# {question}"
    assert "[1]" in lines[2] and "## Sources" in lines
    assert lines[-1].startswith("d-heavy: answer · ")
    assert "Question:" not in done.stdout and "Answer:" not in done.stdout
    # show, piped: the branch ids whole
    shown = served.cli("show", "d-heavy")
    assert shown.returncode == 0, shown.stderr
    assert "  1. branch d-heavy-b0 (completed" in shown.stdout
    assert "  2. branch d-heavy-b1 (completed" in shown.stdout
    branch = served.cli("show", "d-heavy-b0")
    assert "report: - The search for the question found" in branch.stdout  # iterative rounds
    _unwrapped(branch.stdout)


def test_serve_iterative_session(served: Served) -> None:
    done = served.cli("ask", "What is Temporal?", "--strategy", "iterative", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["termination"] == "answer"
    assert result["answer"].startswith("Temporal is a durable execution platform")
    assert result["sources"][0].endswith("/page/temporal")
    assert result["llm_calls"] == 3


def test_serve_local_search_over_an_indexed_folder(served: Served, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "meeting.md").write_text(
        "# Team notes\n\nThe quarterly review meeting is on the second Tuesday of March.\n"
    )
    assert served.cli("index", str(notes)).returncode == 0
    done = served.cli(
        "ask", "When is the quarterly review meeting?", "--json", DEEPRESEARCH_SEARCH="local"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["sources"] == ["doc:meeting.md"]
    assert result["answer"] == "The quarterly review meeting is on the second Tuesday of March."


def test_serve_eval_judges_the_demo_answers(served: Served, tmp_path: Path) -> None:
    out_dir = tmp_path / "eval"
    data = served.data_dir / "demo-eval.jsonl"
    done = served.cli("eval", str(data), "--rollouts", "1", "--out", str(out_dir))
    assert done.returncode == 0, done.stderr
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["questions"] == 3 and summary["judge_errors"] == 0
    rows = [json.loads(line) for line in (out_dir / "iter1_scored.jsonl").read_text().splitlines()]
    verdicts = {row["question"]: (row["judgement"], row["correct"]) for row in rows}
    assert verdicts[FRANCE] == ("Correct", True)
    assert verdicts["How tall is Mount Everest?"] == ("Incorrect", False)  # no page says


def test_an_unscripted_question_fails_with_one_clean_line(stack: Stack) -> None:
    """The plain test model answers 400 to a question it has no script for: one line, the
    status once, the endpoint's own message."""
    done = stack.cli("ask", "What is the capital of Spain?", "--id", "unscripted")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: session unscripted failed: model endpoint answered HTTP 400: "
        "no script for question 'What is the capital of Spain?'"
    ]
