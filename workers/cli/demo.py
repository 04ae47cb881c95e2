"""`deepresearch demo`: the whole system offline in one command — the loopback fakes of a source
checkout (tests/fakes/demo.py), the embedded dev server in a data directory of its own, one
session, its answer, its trajectory and where to see it in the Temporal UI."""

from __future__ import annotations

import os
import shlex
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from workers.cli.app import app, err, fail, out, run

if TYPE_CHECKING:  # the fakes load from the checkout when the command runs
    from tests.fakes.demo import DemoFakes

DEFAULT_QUESTION = "What is the capital of France?"
NEEDS_CHECKOUT = (
    "the demo needs a source checkout: its fakes live in tests/fakes, which is not installed "
    "(clone the repository and run `make demo` there)"
)
# Settings that would send the demo to a real service or mix it with real sessions: left out
# of its environment (names, or prefixes ending in "_").
FOREIGN = (
    "OPENAI_",
    "SERPER_",
    "JINA_",
    "DASHSCOPE_",
    "TEMPORAL_",
    "SANDBOX_FUSION_URL",
    "SEARXNG_URL",
    "DEEPRESEARCH_MODEL",
    "DEEPRESEARCH_SEARCH",
    "DEEPRESEARCH_INDEX_DIR",
    "DEEPRESEARCH_DATA_DIR",
    "DEEPRESEARCH_JINA_KEYLESS",
    "DEEPRESEARCH_EXTRACT_",
    "DEEPRESEARCH_JUDGE_",
    "DEEPRESEARCH_BLOB_",
)
# A dataset `--serve` writes for trying `eval` (gaia-style judging: "Correct" / "Incorrect").
EVAL_ITEMS = (
    {"question": "What is the capital of France?", "answer": "Paris"},
    {"question": "Who won the 2024 Turing Award?", "answer": "Andrew Barto and Richard Sutton"},
    {"question": "How tall is Mount Everest?", "answer": "8,849 metres"},  # none of its pages say
)


def source_checkout() -> Path:
    """The repository root beside the `workers` package, if it holds the fakes."""
    root = Path(__file__).resolve().parents[2]  # <root>/workers/cli/demo.py
    if not (root / "tests" / "fakes" / "demo.py").is_file():
        raise fail(NEEDS_CHECKOUT)
    return root


def start_fakes(root: Path) -> DemoFakes:
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from tests.fakes.demo import DemoFakes

    return DemoFakes().start()


def foreign(name: str) -> bool:
    return any(name == f or (f.endswith("_") and name.startswith(f)) for f in FOREIGN)


def demo_env(fakes: DemoFakes, data_dir: Path) -> dict[str, str]:
    return {**fakes.env(), "DEEPRESEARCH_DATA_DIR": str(data_dir)}


def use_env(env: dict[str, str]) -> list[str]:
    """Point this process (and what it starts) at the demo; the names it dropped."""
    dropped = sorted(name for name in os.environ if foreign(name) and name not in env)
    for name in dropped:
        del os.environ[name]
    os.environ.update(env)
    return dropped


def home_relative(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if text == home or text.startswith(home + os.sep) else text


def ui_link(data_dir: Path, session_id: str | None = None) -> str:
    from workers.hosting import devserver

    base = devserver.ui_url(data_dir) or "(the dev server did not record its UI port)"
    return f"{base}/namespaces/default/workflows/{session_id}" if session_id else base


async def _demo(question: str, data_dir: Path, session_id: str) -> None:
    from workers.cli.render import print_timeline
    from workers.cli.research import _ask
    from workers.client import AskOptions, Sessions

    options = AskOptions(question=question)
    await _ask(options, session_id, as_json=False, detach=False, worker=True, report_out=None)
    sessions = await Sessions.connect()
    timeline = await sessions.timeline(session_id)
    out.print()
    out.print(f"$ deepresearch show {session_id}", markup=False, highlight=False)
    print_timeline(session_id, timeline)
    out.print()
    out.print(f"Temporal UI: {ui_link(data_dir, session_id)}", markup=False, highlight=False)


def _serve(fakes: DemoFakes, data_dir: Path, dropped: list[str]) -> None:
    import json
    import threading

    from workers.hosting import devserver

    address = run(lambda: devserver.ensure_dev_server(data_dir))
    env = demo_env(fakes, data_dir)
    export = "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    unset = f"unset {' '.join(dropped)}" if dropped else ""
    env_file = data_dir / "demo.env"
    env_file.write_text("".join(f"{line}\n" for line in (unset, export) if line))
    dataset = data_dir / "demo-eval.jsonl"
    dataset.write_text("".join(json.dumps(item) + "\n" for item in EVAL_ITEMS))
    where = home_relative(data_dir)
    lines = [
        f"demo fakes on loopback: model {fakes.model.url}/v1, Serper {fakes.serper.url}, "
        f"Jina {fakes.jina.url}",
        f"data in {where}; Temporal dev server {address}, UI {ui_link(data_dir)}",
        f"in another shell, paste these lines (or run: . {home_relative(env_file)}):",
        *([unset] if unset else []),
        export,
        "then try:",
        '  deepresearch ask "What is the capital of France?"',
        '  deepresearch ask "Who won the 2024 Turing Award and for what?" --mode heavy --report',
        '  deepresearch ask "What is Temporal?" --strategy iterative',
        f"  deepresearch eval {home_relative(dataset)} --rollouts 1 --out {where}/eval",
        "  deepresearch index ~/notes && DEEPRESEARCH_SEARCH=local deepresearch ask "
        '"What do my notes say about X?"',
        "Ctrl-C stops the fakes (the dev server keeps running for `deepresearch show`).",
    ]
    for line in lines:
        out.print(line, markup=False, highlight=False)
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:  # how --serve ends
        err.print("demo fakes stopped")


@app.command()
def demo(
    question: Annotated[
        str, typer.Argument(help="What to ask the demo's scripted model.")
    ] = DEFAULT_QUESTION,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="Keep the fakes running and print their environment, to try by hand."
        ),
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="The demo's data directory (default ~/.deepresearch/demo)."),
    ] = None,
) -> None:
    """Try deepresearch offline: loopback fakes (a scripted model, search, pages), the embedded
    dev server and one session, with its answer, its steps and the Temporal UI address."""
    root = source_checkout()
    data_dir = (data_dir or Path.home() / ".deepresearch" / "demo").expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    fakes = start_fakes(root)
    try:
        dropped = use_env(demo_env(fakes, data_dir))
        if serve:
            _serve(fakes, data_dir, dropped)
            return
        err.print(
            f"demo: a scripted model, search and pages on loopback; data in "
            f"{home_relative(data_dir)} (apart from your own sessions)",
            markup=False,
            highlight=False,
        )
        session_id = f"demo-{uuid.uuid4().hex[:8]}"
        run(_demo(question, data_dir, session_id))
        err.print(
            "next: `deepresearch demo --serve` keeps the fakes running, to try ask, "
            "--mode heavy --report, --strategy iterative, eval and index by hand",
            markup=False,
            highlight=False,
        )
    finally:
        fakes.stop()
