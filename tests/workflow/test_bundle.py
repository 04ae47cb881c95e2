"""Provenance bundles of real sessions (a dev server, the loopback fakes, the CLI as a user runs
it): `export --bundle` holds every page read with the text the model got, how and when it was
fetched, the step that read it and the report's sentences citing it; `verify` passes on it and
names the page whose one byte changed; bad files and sessions are one-line errors."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.conftest import Stack
from tests.unit.test_bundle_zip import _flip, _rewrite
from tests.unit.test_prompts import DIGESTS
from tests.workflow.test_report import WRITER
from tests.workflow.test_session import ANSWER, QUESTION, answer, call
from workers.client.bundle import sha256

REPORT = (
    "# The 2024 Turing Award\n\nAndrew Barto and Richard Sutton won it [1]. The award was for "
    "reinforcement learning [1, 2]. It is the field's highest honour."
)


def _one_line_error(result: object) -> str:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("error: "), stderr
    return stderr


def test_a_bundle_verifies_and_names_the_page_that_changed(stack: Stack, tmp_path: Path) -> None:
    pages = [f"{stack.jina.url}/page/acm-{i}" for i in (1, 2)]
    stack.script(QUESTION, [call("visit", {"url": pages, "goal": "who won"}), answer()])
    stack.model.scripts[WRITER] = [REPORT]
    direct = {"JINA_API_KEY": ""}  # read the fake website directly: status and final URL known
    done = stack.cli("ask", QUESTION, "--id", "s-bundle", "--report", "--json", **direct)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == ANSWER

    path = tmp_path / "s-bundle.zip"
    exported = stack.cli("export", "s-bundle", "--bundle", str(path))
    assert exported.returncode == 0, exported.stderr
    assert f"wrote the provenance bundle of s-bundle to {path}" in exported.stderr

    shown = json.loads(stack.cli("show", "s-bundle", "--json").stdout)
    read_steps = {s["url"]: n for n, s in enumerate(shown["steps"], 1) if s["node"] == "read"}
    # what the model got back for the two pages: the tool response of its second turn
    second_turn = stack.model.research_requests()[1].body["messages"][-1]["content"]
    webpages = {r.meta["webpage"] for r in stack.model.extraction_requests()}
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert archive.read("answer.md").decode() == ANSWER
        assert archive.read("report.md").decode().startswith(REPORT)
        for n, page in enumerate(pages, 1):
            source = json.loads(archive.read(f"sources/0{n}/source.json"))
            text = archive.read(f"sources/0{n}/page.txt")
            observation = archive.read(f"sources/0{n}/observation.txt").decode()
            assert source["url"] == source["final_url"] == page
            assert source["http_status"] == 200 and source["fetched_via"] == "direct"
            assert source["fetched_at"][:2] == "20" and source["fetched_at"].endswith("Z")
            assert source["content_digest"] == sha256(text) and text.decode() in webpages
            assert observation.startswith(f"The useful information in {page}")
            assert observation.strip() in second_turn  # exactly what the model read
            assert source["step"] == read_steps[page] and source["node"] == "read"
            assert source["citation"] == n and source["goal"] == "who won"
            cites = ["The award was for reinforcement learning [1, 2]."]
            if n == 1:
                cites.insert(0, "Andrew Barto and Richard Sutton won it [1].")
            assert source["cited_by"] == cites
        history = archive.read("history/run-01.json")
    assert manifest["session_id"] == "s-bundle" and manifest["model"] == "fake-model"
    assert manifest["settings"]["report"] is True and manifest["question"] == QUESTION
    assert manifest["prompts"]["digests"]["EXTRACTOR_PROMPT"] == DIGESTS["EXTRACTOR_PROMPT"]
    (run,) = manifest["temporal_history"]["runs"]
    assert run["sha256"] == sha256(history)
    assert json.loads(history)["events"][0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"

    fresh = stack.cli("verify", str(path))
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert fresh.stdout.startswith("ok: 9 files match the manifest (manifest sha256:")

    _rewrite(path, "sources/02/page.txt", _flip)
    changed = stack.cli("verify", str(path))
    assert changed.returncode == 1
    lines = changed.stdout.splitlines()
    assert lines and all(line.startswith("sources/02/page.txt: digest") for line in lines), lines
    assert _one_line_error(changed) == "error: 2 of the bundle's checks failed\n"


def test_bad_bundles_and_sessions_are_one_line_errors(stack: Stack, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"PK\x03\x04 but not really a zip")
    for path, message in [(garbage, "not a zip file"), (tmp_path / "none.zip", "no such file")]:
        result = stack.cli("verify", str(path))
        assert result.returncode == 2 and message in _one_line_error(result)
    missing = stack.cli("export", "s-none", "--bundle", str(tmp_path / "x.zip"))
    assert missing.returncode == 2
    assert "no session with id 's-none'" in _one_line_error(missing)
    assert not (tmp_path / "x.zip").exists()
    both = stack.cli("export", "a", "b", "--bundle", str(tmp_path / "x.zip"))
    assert both.returncode == 2 and "exactly one session id" in _one_line_error(both)
