"""Provenance bundles (`export ID --bundle FILE.zip`, `GET /v1/sessions/{id}/bundle`): one zip
that shows where an answer came from — the answer and report, every page read (the URL, how and
when it was fetched, the text exactly as the model read it, the step that read it, the report's
sentences that cite it), the Temporal histories, and a manifest with the session's settings and
the digest of every file, so that `verify` can say which file changed. Pure: it takes decoded
data and bytes; `Sessions.bundle` gathers them."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from graphs import prompts
from graphs.citations import CITATION

FORMAT = "deepresearch-bundle"
VERSION = 1
MANIFEST = "manifest.json"
UNKNOWN = "unknown"  # what a session recorded before reads kept it
PROMPT_RULE = (
    "sha256 of the UTF-8 text of each graphs.prompts constant (of repr() for the others), "
    "as tests/unit/test_prompts.py pins them; taken from the exporting code"
)
HISTORY_RULE = (
    "one file per run, oldest first: temporalio WorkflowHistory.to_json() (the proto JSON that "
    "WorkflowHistory.from_json reads back); each run's digest is its file's sha256, the history "
    "digest the sha256 of the runs' digests (the sha256:... strings), each followed by a newline"
)
# A report's own sources list, as `graphs.citations.ground` writes it.
SOURCES = re.compile(r"\n#+\s*Sources\s*\n(?P<lines>(?:\s*\[\d+\] \S+)+)\s*\Z")
SOURCE_LINE = re.compile(r"\[(\d+)\] (\S+)")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")
# Settings a bundle leaves out: graph state (large, and the history holds it), and where a
# webhook goes (its URL may carry a token).
UNSHOWN = ("resume_state", "control", "webhook", "follow_up")


class BundleError(Exception):
    """The file is not a bundle that can be checked at all (missing, not a zip, no manifest)."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def prompt_digest(value: object) -> str:
    """The digest `tests/unit/test_prompts.py` pins for a prompt constant."""
    data = value.encode("utf-8") if isinstance(value, str) else repr(value).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def prompt_digests() -> dict[str, str]:
    return {name: prompt_digest(getattr(prompts, name)) for name in sorted(prompts.__all__)}


def history_digest(run_digests: Sequence[str]) -> str:
    """One digest for a session's runs, from each run's file digest (order matters)."""
    return sha256("".join(f"{digest}\n" for digest in run_digests).encode())


def sentences(text: str) -> list[str]:
    """The text's sentences: each line split after . ! ? (and their CJK forms)."""
    found = []
    for line in text.splitlines():
        found += [part.strip() for part in SENTENCE_END.split(line) if part.strip()]
    return found


def report_sources(markdown: str) -> tuple[str, dict[int, str]]:
    """A grounded report's body and its sources list (citation number -> URL)."""
    match = SOURCES.search(markdown)
    if match is None:
        return markdown, {}
    numbered = {int(n): url for n, url in SOURCE_LINE.findall(match.group("lines"))}
    return markdown[: match.start()], numbered


def citing_sentences(text: str, numbered: dict[int, str], urls: set[str]) -> dict[str, list[str]]:
    """URL -> the sentences of `text` that cite it: by a [n] marker naming it in `numbered`,
    or by naming one of `urls` itself (a link, or an answer that names its source)."""
    cited: dict[str, list[str]] = {}
    for sentence in sentences(text):
        named = {
            numbered[int(n)]
            for group in CITATION.findall(sentence)
            for n in re.split(r"\s*,\s*", group)
            if int(n) in numbered
        }
        named |= {url for url in urls if url in sentence}
        for url in sorted(named):
            cited.setdefault(url, []).append(sentence)
    return cited


@dataclass(frozen=True)
class BundleInput:
    """What one bundle is made of, decoded from the session's histories and the blob store."""

    session_id: str
    request: dict[str, Any]  # the first run's ResearchInput
    report: dict[str, Any]  # the ResearchReport the session ended with
    reads: list[dict[str, Any]]  # `timeline.page_reads`
    pages: dict[str, bytes | None]  # blob digest -> the stored page (None: gone from the store)
    histories: list[tuple[str, str]]  # (run id, WorkflowHistory.to_json()), oldest first
    created_at: datetime


def settings_of(request: dict[str, Any]) -> dict[str, Any]:
    """The session's settings as its input recorded them, less graph state and webhook URLs."""
    shown = {k: v for k, v in request.items() if k not in UNSHOWN}
    shown["webhook"] = request.get("webhook") is not None
    follow_up = request.get("follow_up")
    shown["follow_up_of"] = follow_up.get("of") if isinstance(follow_up, dict) else None
    return shown


def _text(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else b""


def _source(read: dict[str, Any], page: str | None, n: int | None, cited: list[str]) -> dict:
    fetch = read.get("fetch") if isinstance(read.get("fetch"), dict) else {}
    return {
        "url": read["url"],
        "final_url": fetch.get("final_url") or UNKNOWN,
        "fetched_at": fetch.get("fetched_at") or UNKNOWN,
        "http_status": fetch.get("status") or UNKNOWN,
        "fetched_via": fetch.get("via") or UNKNOWN,
        "content_digest": read.get("blob") or UNKNOWN,
        "page_file": page,
        "step": read["step"],
        "node": read["node"],
        "activity_id": read.get("activity_id"),
        "run_id": read.get("run_id"),
        "scheduled_at": read.get("scheduled_at"),
        "finished_at": read.get("finished_at"),
        "goal": read.get("goal"),
        "citation": n,
        "cited_by": cited,
    }


def build(data: BundleInput) -> bytes:
    """The bundle as zip bytes: every file, then the manifest listing each file's digest."""
    files: dict[str, bytes] = {"answer.md": _text(data.report.get("answer"))}
    urls = {read["url"] for read in data.reads}
    markdown = data.report.get("report_markdown")
    if isinstance(markdown, str):
        files["report.md"] = markdown.encode("utf-8")
        body, numbered = report_sources(markdown)
        cited = citing_sentences(body, numbered, urls)
    else:  # no report: the answer's sentences that name a page read
        numbered = {}
        cited = citing_sentences(str(data.report.get("answer") or ""), {}, urls)
    number = {url: n for n, url in numbered.items()}
    sources = []
    width = max(2, len(str(len(data.reads))))
    for i, read in enumerate(data.reads, 1):
        folder = f"sources/{i:0{width}d}"
        files[f"{folder}/observation.txt"] = read["observation"].encode("utf-8")
        page = data.pages.get(read.get("blob") or "")
        if page is not None:
            files[f"{folder}/page.txt"] = page
        url = read["url"]
        entry = _source(read, f"{folder}/page.txt" if page is not None else None,
                        number.get(url), cited.get(url, []))  # fmt: skip
        files[f"{folder}/source.json"] = _json(entry)
        sources.append({"folder": folder, "url": url, "citation": number.get(url)})
    runs = []
    for i, (run_id, text) in enumerate(data.histories, 1):
        name = f"history/run-{i:02d}.json"
        files[name] = text.encode("utf-8")
        runs.append({"run_id": run_id, "file": name, "sha256": sha256(files[name])})
    request = data.request
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "session_id": data.session_id,
        "created_at": data.created_at.isoformat(),
        "question": data.report.get("question", request.get("question")),
        "model": request.get("model") or UNKNOWN,
        "protocol": request.get("protocol"),
        "strategy": request.get("strategy"),
        "termination": data.report.get("termination"),
        "settings": settings_of(request),
        "prompts": {
            "rule": PROMPT_RULE,
            "system_prompt": (
                "OPENAI_SYSTEM_PROMPT" if request.get("protocol") == "openai" else "SYSTEM_PROMPT"
            ),
            "digests": prompt_digests(),
        },
        "temporal_history": {
            "rule": HISTORY_RULE,
            "runs": runs,
            "sha256": history_digest([run["sha256"] for run in runs]),
        },
        "sources": sources,
        "files": {name: sha256(content) for name, content in files.items()},
    }
    stamp = data.created_at.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in [(MANIFEST, _json(manifest)), *files.items()]:
            archive.writestr(zipfile.ZipInfo(name, stamp), content, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Verified:
    """What `verify` found: one line per mismatch (naming the file inside the zip)."""

    manifest_digest: str
    checked: int
    mismatches: list[str]


def _digest_member(archive: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with archive.open(name) as member:
        while chunk := member.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


# What reading a damaged or unusual member can raise (a bad CRC, corrupt deflate data, an
# encrypted or unsupported member).
UNREADABLE = (
    zipfile.BadZipFile,
    OSError,
    ValueError,
    zlib.error,
    RuntimeError,
    NotImplementedError,
)


def verify(path: Path) -> Verified:
    """Re-compute every file's digest against the manifest, each page's against the content
    digest its source recorded (the blob digest in the history), and the history digest;
    BundleError when the file cannot be checked at all."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BundleError(f"{path}: is a directory, not a bundle") from None
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise BundleError(f"{path}: not a zip file ({error})") from None
    with archive:
        try:
            raw = archive.read(MANIFEST)
        except KeyError:
            raise BundleError(f"{path}: no {MANIFEST}: not a provenance bundle") from None
        except UNREADABLE as error:
            raise BundleError(f"{path}: unreadable {MANIFEST} ({error})") from None
        try:
            manifest = json.loads(raw)
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise ValueError("not a deepresearch bundle")
            mismatches, checked = _check(archive, manifest)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise BundleError(f"{path}: unreadable {MANIFEST} ({error!s:.200})") from None
    return Verified(sha256(raw), checked, mismatches)


def _check(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> tuple[list[str], int]:
    """The mismatches, and how many listed files could be read."""
    listed: dict[str, str] = manifest["files"]
    runs: list[dict[str, Any]] = manifest["temporal_history"]["runs"]
    mismatches = []
    present = set(archive.namelist()) - {MANIFEST}
    found: dict[str, str] = {}
    for name, expected in sorted(listed.items()):
        if name not in present:
            mismatches.append(f"{name}: missing from the bundle")
            continue
        try:
            found[name] = _digest_member(archive, name)
        except UNREADABLE as error:
            mismatches.append(f"{name}: unreadable ({error})")
            continue
        if found[name] != expected:
            mismatches.append(
                f"{name}: digest {found[name]} does not match the manifest's {expected}"
            )
    mismatches += [f"{name}: not in the manifest" for name in sorted(present - set(listed))]
    mismatches += _pages(archive, manifest, found)
    recomputed = history_digest([str(run.get("sha256", "")) for run in runs])
    if recomputed != manifest["temporal_history"].get("sha256"):
        mismatches.append(f"{MANIFEST}: the Temporal history digest is not that of its runs")
    for run in runs:
        if found.get(run.get("file")) not in (None, run.get("sha256")):
            mismatches.append(
                f"{run['file']}: digest does not match its run's in the history digest"
            )
    return mismatches, len(found)


def _pages(archive: zipfile.ZipFile, manifest: dict[str, Any], found: dict[str, str]) -> list[str]:
    """Each page text against the content digest its source.json recorded (the digest under
    which the worker stored it, from the history)."""
    mismatches = []
    for source in manifest.get("sources") or []:
        name = f"{source.get('folder')}/source.json"
        if name not in found or found[name] != manifest["files"].get(name):
            continue  # reported above: missing or changed
        entry = json.loads(archive.read(name))
        page, recorded = entry.get("page_file"), entry.get("content_digest")
        if page in found and recorded != UNKNOWN and found[page] != recorded:
            mismatches.append(
                f"{page}: digest {found[page]} is not the content digest {recorded} "
                "its source recorded"
            )
    return mismatches
