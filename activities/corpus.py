"""A local document corpus in a tantivy index: the `local` search backend and `doc:` pages."""

from __future__ import annotations

import hashlib
import html
import importlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tantivy

from activities.errors import ToolError
from activities.html_text import html_to_text

DOC_PREFIX = "doc:"
MAX_FILE_BYTES = 100 * 1024 * 1024  # larger files are skipped rather than read into memory
SNIPPET_CHARS = 240  # about a Serper snippet's length
WRITER_HEAP_BYTES = 64 * 1024 * 1024
TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst", ".csv", ".tsv", ".log"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
# The query syntax a model's free-text query is not meant to use (fields, ranges, boosts...);
# double quotes stay so that "exact phrases" keep working as they do on Google.
_SYNTAX = re.compile(r"[:^~*!+\-\\/(){}\[\]<>=]")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)

Parser = Callable[[str, bytes], str]


@dataclass(frozen=True)
class IndexStats:
    """What one `build_index` run changed; `skipped` names files it could not read."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: tuple[str, ...] = ()
    documents: int = 0  # in the index after the run


@dataclass
class _Tally:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[str] = field(default_factory=list)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # raw: ids and digests match exactly (delete-by-term, lookups), never tokenized
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True)
    builder.add_text_field("path", stored=True, tokenizer_name="raw")
    builder.add_text_field("body", stored=True)
    builder.add_text_field("digest", stored=True, tokenizer_name="raw")
    return builder.build()


def document_id(relative: Path) -> str:
    """Stable across runs and machines: the POSIX path relative to the indexed folder."""
    return DOC_PREFIX + relative.as_posix()


# -- parsing ---------------------------------------------------------------------------------


def _default_parser() -> Parser:
    """`activities.files.parse_bytes` (PDF, DOCX, ...) where that module exists, else ours."""
    try:
        files = importlib.import_module("activities.files")
    except ModuleNotFoundError as error:
        if error.name != "activities.files":
            raise
        return parse_plain
    parse = getattr(files, "parse_bytes", None)
    return parse if callable(parse) else parse_plain


def parse_plain(name: str, data: bytes) -> str:
    """Text, Markdown, HTML and JSON; other formats raise ToolError (the file is skipped)."""
    suffix = Path(name).suffix.lower()
    text = data.decode("utf-8", errors="replace")
    if suffix in TEXT_SUFFIXES:
        return text
    if suffix in HTML_SUFFIXES:
        title = _html_title(text)
        body = html_to_text(text)
        return f"# {title}\n\n{body}" if title and not body.lstrip().startswith("#") else body
    if suffix == ".json":
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    raise ToolError(f"unsupported file type {suffix or '(none)'}", name=name)


def _html_title(text: str) -> str:
    match = _HTML_TITLE.search(text)
    return " ".join(html.unescape(match.group(1)).split()) if match else ""


def _title(text: str, relative: Path) -> str:
    """The first Markdown heading near the top, else the file name."""
    for line in text.lstrip().splitlines()[:5]:
        heading = _HEADING.match(line)
        if heading:
            return heading.group(1).strip()
    return relative.name


# -- building --------------------------------------------------------------------------------


def _walk(source_dir: Path, skip: Path) -> Iterator[Path]:
    """Regular files under source_dir, sorted; hidden entries and the index itself left out."""
    for root, dirs, files in os.walk(source_dir):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        for name in sorted(files):
            if not name.startswith("."):
                yield here / name


def _stored(searcher: tantivy.Searcher) -> dict[str, str]:
    """id -> digest of every document in the index."""
    total = searcher.num_docs
    if not total:
        return {}
    hits = searcher.search(tantivy.Query.all_query(), limit=total).hits
    result = {}
    for _, address in hits:
        doc = searcher.doc(address)
        result[doc["id"][0]] = doc["digest"][0]
    return result


def _open_for_write(index_dir: Path) -> tantivy.Index:
    index_dir.mkdir(parents=True, exist_ok=True)
    return tantivy.Index(_schema(), path=str(index_dir), reuse=True)


def build_index(source_dir: Path, index_dir: Path, parse: Parser | None = None) -> IndexStats:
    """Index every readable file under source_dir. Re-running re-parses only files whose content
    changed (by SHA-256, so a rewrite within the same second still counts) and drops documents
    whose file is gone."""
    source_dir, index_dir = Path(source_dir).resolve(), Path(index_dir).resolve()
    if not source_dir.is_dir():
        raise ToolError(f"not a folder: {source_dir}", path=str(source_dir))
    parse = parse or _default_parser()
    index = _open_for_write(index_dir)
    stored = _stored(index.searcher())
    tally = _Tally()
    seen: set[str] = set()
    writer = index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
    try:
        for path in _walk(source_dir, index_dir):
            _index_file(writer, path, source_dir, parse, stored, seen, tally)
        for gone in stored.keys() - seen:
            writer.delete_documents_by_term("id", gone)
            tally.removed += 1
        writer.commit()
    except BaseException:
        writer.rollback()
        raise
    finally:
        writer.wait_merging_threads()
    index.reload()
    return IndexStats(
        added=tally.added,
        updated=tally.updated,
        unchanged=tally.unchanged,
        removed=tally.removed,
        skipped=tuple(tally.skipped),
        documents=index.searcher().num_docs,
    )


def _index_file(
    writer: tantivy.IndexWriter,
    path: Path,
    source_dir: Path,
    parse: Parser,
    stored: dict[str, str],
    seen: set[str],
    tally: _Tally,
) -> None:
    relative = path.relative_to(source_dir)
    ident = document_id(relative)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ToolError(f"larger than {MAX_FILE_BYTES} bytes")
        data = path.read_bytes()
    except (OSError, ToolError) as error:
        tally.skipped.append(f"{relative.as_posix()}: {error}")
        return
    digest = hashlib.sha256(data).hexdigest()
    if stored.get(ident) == digest:
        seen.add(ident)
        tally.unchanged += 1
        return
    try:
        text = parse(path.name, data)
    except Exception as error:  # one unreadable document must not stop the whole corpus
        tally.skipped.append(f"{relative.as_posix()}: {error}")
        return
    if not text or not text.strip():
        tally.skipped.append(f"{relative.as_posix()}: no text")
        return
    seen.add(ident)
    if ident in stored:
        writer.delete_documents_by_term("id", ident)
        tally.updated += 1
    else:
        tally.added += 1
    writer.add_document(
        tantivy.Document(
            id=ident,
            title=_title(text, relative),
            path=relative.as_posix(),
            body=text,
            digest=digest,
        )
    )


# -- reading ---------------------------------------------------------------------------------


def _open(index_dir: str | Path) -> tantivy.Index:
    path = Path(index_dir)
    if not path.is_dir() or not tantivy.Index.exists(str(path)):
        raise ToolError(
            f"no local index at {path}: build one with `deepresearch index DIR`", path=str(path)
        )
    return tantivy.Index.open(str(path))


def _free_text(query: str) -> str:
    """A model's query as plain words (and balanced "phrases") for tantivy's parser."""
    cleaned = _SYNTAX.sub(" ", query)
    if cleaned.count('"') % 2:
        cleaned = cleaned.replace('"', " ")
    return cleaned


def _highlight(snippet: tantivy.Snippet) -> str:
    """The fragment with matched terms in **bold** (tantivy's ranges are UTF-8 byte offsets)."""
    fragment = snippet.fragment().encode("utf-8")
    parts, last = [], 0
    for span in sorted(snippet.highlighted(), key=lambda r: r.start):
        if span.start < last:
            continue
        parts += [fragment[last : span.start], b"**", fragment[span.start : span.end], b"**"]
        last = span.end
    parts.append(fragment[last:])
    return " ".join(b"".join(parts).decode("utf-8", errors="ignore").split())


def _lead(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " ..."


def search_index(index_dir: str | Path, query: str, limit: int = 10) -> list[dict[str, Any]]:
    """Best matches as Serper-shaped organic entries: `link` is the doc id `visit` reads, the
    snippet the best-matching passage (or the document's opening when only the title matched)."""
    index = _open(index_dir)
    parsed, _errors = index.parse_query_lenient(
        _free_text(query), ["title", "body"], field_boosts={"title": 2.0}
    )
    searcher = index.searcher()
    hits = searcher.search(parsed, limit=max(1, limit)).hits
    snippets = tantivy.SnippetGenerator.create(searcher, parsed, index.schema, "body")
    snippets.set_max_num_chars(SNIPPET_CHARS)
    results = []
    for _, address in hits:
        doc = searcher.doc(address)
        body = doc["body"][0]
        snippet = _highlight(snippets.snippet_from_doc(doc)) or _lead(body)
        results.append({"title": doc["title"][0], "link": doc["id"][0], "snippet": snippet})
    return results


def read_document(index_dir: str | Path, doc_id: str) -> str:
    """The stored text of one document; an id the index does not hold is a ToolError."""
    index = _open(index_dir)
    searcher = index.searcher()
    term = tantivy.Query.term_query(index.schema, "id", doc_id)
    hits = searcher.search(term, limit=1).hits
    if not hits:
        raise ToolError(f"no document {doc_id!r} in the local index", doc_id=doc_id)
    return str(searcher.doc(hits[0][1])["body"][0])
