"""Provenance bundles, the pure part: which sentences cite which page, what the zip holds, and
`verify` naming the one file that changed (or saying the file is no bundle at all)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workers.client.bundle import (
    MANIFEST,
    BundleError,
    BundleInput,
    build,
    citing_sentences,
    prompt_digests,
    report_sources,
    sentences,
    sha256,
    verify,
)

A, B = "https://a.example/one", "https://b.example/two"
PAGE_A, PAGE_B = b"Page one says Barto and Sutton won.", b"Page two: reinforcement learning."
REPORT = (
    "# Turing Award\n\nBarto and Sutton won it [1]. They were cited for reinforcement "
    "learning [1, 2]! Nobody disputes it.\n\n- See also [the page](https://b.example/two).\n\n"
    f"## Sources\n\n[1] {A}\n[2] {B}\n"
)


def _read(step: int, url: str, page: bytes, fetch: dict | None = None) -> dict:  # type: ignore[type-arg]
    return {
        "step": step,
        "node": "read",
        "activity_id": str(step),
        "scheduled_at": "2025-01-01T00:00:00Z",
        "finished_at": "2025-01-01T00:00:01Z",
        "run_id": "run-1",
        "url": url,
        "goal": "who won",
        "observation": f"The useful information in {url} ...",
        "blob": sha256(page),
        "fetch": fetch,
    }


def _input(report: str | None = REPORT, answer: str = "Barto and Sutton.") -> BundleInput:
    fetched = {"via": "direct", "status": 200, "final_url": A + "/", "fetched_at": "2025-01-01Z"}
    return BundleInput(
        session_id="s-unit",
        request={
            "question": "Who won?",
            "model": "m",
            "protocol": "tongyi",
            "report": report is not None,
            "resume_state": {"messages": ["big"]},
            "webhook": {"url": "https://hooks.example/?token=secret"},
        },
        report={
            "question": "Who won?",
            "answer": answer,
            "termination": "answer",
            "report_markdown": report,
        },  # fmt: skip
        reads=[_read(2, A, PAGE_A, fetched), _read(3, B, PAGE_B)],
        pages={sha256(PAGE_A): PAGE_A, sha256(PAGE_B): PAGE_B},
        histories=[("run-1", '{"events": []}')],
        created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def _bundle(tmp_path: Path, data: BundleInput | None = None) -> Path:
    path = tmp_path / "b.zip"
    path.write_bytes(build(data or _input()))
    return path


def _rewrite(path: Path, name: str, change: Callable[[bytes], bytes | None]) -> None:
    """Copy the zip with one member changed (None: left out)."""
    with zipfile.ZipFile(path) as old:
        members = [(info.filename, old.read(info)) for info in old.infolist()]
    with zipfile.ZipFile(path, "w") as new:
        for member, content in members:
            changed = change(content) if member == name else content
            if changed is not None:
                new.writestr(member, changed)


def _flip(content: bytes) -> bytes:
    return bytes([content[0] ^ 0x01]) + content[1:]


def test_sentences_split_lines_and_sentence_ends() -> None:
    assert sentences("One [1]. Two!\n\n- Three? 四。五") == [
        "One [1].",
        "Two!",
        "- Three?",
        "四。",
        "五",
    ]


def test_report_sources_and_citing_sentences() -> None:
    body, numbered = report_sources(REPORT)
    assert numbered == {1: A, 2: B} and "## Sources" not in body
    cited = citing_sentences(body, numbered, {A, B})
    assert cited[A] == [
        "Barto and Sutton won it [1].",
        "They were cited for reinforcement learning [1, 2]!",
    ]
    assert cited[B] == [
        "They were cited for reinforcement learning [1, 2]!",
        "- See also [the page](https://b.example/two).",  # a link names it too
    ]


def test_a_report_without_sources_cites_only_by_url() -> None:
    assert report_sources("No citations here.") == ("No citations here.", {})
    assert citing_sentences(f"Read {A}. Then [1].", {}, {A}) == {A: [f"Read {A}."]}


def test_the_bundle_holds_every_page_read_and_a_manifest(tmp_path: Path) -> None:
    with zipfile.ZipFile(_bundle(tmp_path)) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read(MANIFEST))
        first = json.loads(archive.read("sources/01/source.json"))
        second = json.loads(archive.read("sources/02/source.json"))
        assert archive.read("sources/02/page.txt") == PAGE_B
        assert archive.read("report.md").decode() == REPORT
        history = archive.read("history/run-01.json")
    assert names == {MANIFEST, "answer.md", "report.md", "history/run-01.json"} | {
        f"sources/0{n}/{f}" for n in (1, 2) for f in ("source.json", "observation.txt", "page.txt")
    }
    assert set(manifest["files"]) == names - {MANIFEST}
    assert first["final_url"] == A + "/" and first["http_status"] == 200
    assert first["citation"] == 1 and first["step"] == 2 and len(first["cited_by"]) == 2
    assert first["content_digest"] == sha256(PAGE_A) and first["page_file"] == "sources/01/page.txt"
    # recorded before reads kept how they fetched: said so, not guessed
    assert second["final_url"] == second["http_status"] == second["fetched_at"] == "unknown"
    assert manifest["model"] == "m" and manifest["settings"]["report"] is True
    assert "resume_state" not in manifest["settings"]
    assert manifest["settings"]["webhook"] is True and "secret" not in json.dumps(manifest)
    (run,) = manifest["temporal_history"]["runs"]
    assert run == {"run_id": "run-1", "file": "history/run-01.json", "sha256": sha256(history)}
    assert manifest["prompts"]["system_prompt"] == "SYSTEM_PROMPT"


def test_prompt_digests_are_the_pinned_ones() -> None:
    from tests.unit.test_prompts import DIGESTS

    digests = prompt_digests()
    assert {name: digests[name] for name in DIGESTS} == DIGESTS


def test_without_a_report_the_answer_sentences_naming_a_page_cite_it(tmp_path: Path) -> None:
    path = _bundle(tmp_path, _input(report=None, answer=f"It was them ({A}). Surely."))
    with zipfile.ZipFile(path) as archive:
        assert "report.md" not in archive.namelist()
        first = json.loads(archive.read("sources/01/source.json"))
        second = json.loads(archive.read("sources/02/source.json"))
    assert first["cited_by"] == [f"It was them ({A})."] and first["citation"] is None
    assert second["cited_by"] == []


def test_a_page_gone_from_the_blob_store_is_said_missing(tmp_path: Path) -> None:
    data = _input()
    data.pages[sha256(PAGE_B)] = None
    with zipfile.ZipFile(_bundle(tmp_path, data)) as archive:
        assert "sources/02/page.txt" not in archive.namelist()
        assert json.loads(archive.read("sources/02/source.json"))["page_file"] is None
    assert verify(tmp_path / "b.zip").mismatches == []


def test_a_fresh_bundle_verifies(tmp_path: Path) -> None:
    found = verify(_bundle(tmp_path))
    assert found.mismatches == [] and found.checked == 9
    manifest = zipfile.ZipFile(tmp_path / "b.zip").read(MANIFEST)
    assert found.manifest_digest == "sha256:" + hashlib.sha256(manifest).hexdigest()


def test_one_changed_byte_of_a_page_names_that_file(tmp_path: Path) -> None:
    path = _bundle(tmp_path)
    _rewrite(path, "sources/02/page.txt", _flip)
    mismatches = verify(path).mismatches
    assert len(mismatches) == 2  # against the manifest, and against the recorded content digest
    assert all(line.startswith("sources/02/page.txt: digest sha256:") for line in mismatches)


def test_missing_added_and_history_changes_are_named(tmp_path: Path) -> None:
    path = _bundle(tmp_path)
    _rewrite(path, "answer.md", lambda _: None)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("extra.txt", b"smuggled")
    _rewrite(path, "history/run-01.json", _flip)
    mismatches = verify(path).mismatches
    assert mismatches[0] == "answer.md: missing from the bundle"
    assert mismatches[1].startswith("history/run-01.json: digest")
    assert "extra.txt: not in the manifest" in mismatches
    assert any(line.startswith("history/run-01.json: digest does not match") for line in mismatches)


def test_a_changed_manifest_digest_list_is_caught(tmp_path: Path) -> None:
    path = _bundle(tmp_path)

    def forge(content: bytes) -> bytes:
        manifest = json.loads(content)
        manifest["temporal_history"]["runs"][0]["sha256"] = sha256(b"other")
        return json.dumps(manifest).encode()

    _rewrite(path, MANIFEST, forge)
    assert verify(path).mismatches == [
        "manifest.json: the Temporal history digest is not that of its runs",
        "history/run-01.json: digest does not match its run's in the history digest",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"not a zip at all", "not a zip file"),
        (b"", "not a zip file"),
    ],
)
def test_what_is_no_bundle_is_one_error(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "x.zip"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BundleError, match=message) as caught:
        verify(path)
    assert "\n" not in str(caught.value)


def test_a_zip_without_a_manifest_is_no_bundle(tmp_path: Path) -> None:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(BundleError, match="no manifest.json: not a provenance bundle"):
        verify(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(MANIFEST, "{not json")
    with pytest.raises(BundleError, match="unreadable manifest.json"):
        verify(path)
    with pytest.raises(BundleError, match="is a directory"):
        verify(tmp_path)


async def test_stored_histories_give_honest_bundles(tmp_path: Path) -> None:
    """Sessions recorded before reads kept how they fetched (and before `read`: `fetch` then
    `extract`): each page read is there with the text the model got, and what was never
    recorded says `unknown`."""
    from types import SimpleNamespace

    from temporalio.client import WorkflowHistory

    from activities.blobstore import open_blob_store
    from workers.client.timeline import final_report, first_input, page_reads
    from workers.hosting.research_worker import data_converter

    stored = Path(__file__).resolve().parent.parent / "histories"
    client = SimpleNamespace(data_converter=data_converter(stored / "blobs"))
    store = open_blob_store(None, stored / "blobs")
    for name in ("tongyi-four-calls.json", "tongyi-four-calls-read.json"):
        history = WorkflowHistory.from_json(name, (stored / name).read_text())
        reads = await page_reads(client, [history])  # type: ignore[arg-type]
        assert len(reads) == 2 and {read["node"] for read in reads} <= {"read", "extract"}
        assert all(read["observation"].startswith("The useful information in") for read in reads)
        pages = {read["blob"]: store.get(read["blob"]) for read in reads}
        data = BundleInput(
            session_id=name,
            request=await first_input(client, [history]),  # type: ignore[arg-type]
            report=await final_report(client, [history]) or {},  # type: ignore[arg-type]
            reads=reads,
            pages=pages,  # type: ignore[arg-type]
            histories=[(history.run_id, history.to_json())],
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
        )
        path = tmp_path / f"{name}.zip"
        path.write_bytes(build(data))
        assert verify(path).mismatches == []
        with zipfile.ZipFile(path) as archive:
            source = json.loads(archive.read("sources/01/source.json"))
            page = archive.read("sources/01/page.txt")
        assert source["content_digest"] == sha256(page)
        assert source["final_url"] == source["http_status"] == source["fetched_at"] == "unknown"
        assert source["content_digest"].startswith("sha256:") and source["step"] > 1
