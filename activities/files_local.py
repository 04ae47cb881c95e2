"""Files parsed to text on the worker: PDF, DOCX, PPTX, XLSX, CSV/TSV, text, HTML and ZIP.

Pure (bytes in, text out), so the local-corpus indexer shares `parse_bytes`. The reference's
IDP/pdfminer/pandas parsers are replaced by pypdf, python-docx, python-pptx and openpyxl; tables
become pipe tables as the reference's tabulate `pipe` format renders them.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from activities.errors import ToolError
from activities.files_kind import classify
from activities.files_text import clean, cut_note, decode
from activities.files_zip import (
    MAX_UNPACKED_BYTES,
    MAX_ZIP_MEMBERS,
    ZipBomb,
    guard_container,
    open_zip,
    read_member,
)
from activities.html_text import html_to_text


class NeedsModel(ToolError):
    """Content that local parsers cannot read but a Dashscope model can (audio, video, images,
    scanned PDFs); `parse_files` sends these to `dashscope_parse` when a key is set."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return str(value).replace("|", "\\|").replace("\r", "").replace("\n", " ").strip()


def markdown_table(rows: Iterable[Sequence[Any]]) -> str:
    """Pipe table, first row as header; empty rows and trailing empty columns dropped (the
    reference renders tables with tabulate's `pipe` format after `dropna(how='all')`)."""
    cells = [[_cell(v) for v in row] for row in rows]
    cells = [row for row in cells if any(row)]
    if not cells:
        return ""
    width = max(len(row) for row in cells)
    while width > 1 and not any(len(row) >= width and row[width - 1] for row in cells):
        width -= 1
    cells = [(row + [""] * width)[:width] for row in cells]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "---|" * width)
    return "\n".join(lines)


def _parse_pdf(name: str, data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ToolError(f"{name} is an encrypted PDF that needs a password")
    pages = [clean(page.extract_text() or "") for page in reader.pages]
    text = "\n\n".join(page for page in pages if page)
    if not text:
        raise NeedsModel(
            f"{name} has no extractable text (a scanned PDF?); reading it needs a vision model"
        )
    return text


def _parse_docx(name: str, data: bytes) -> str:
    """Paragraphs and tables in document order; headings as markdown headings."""
    from docx import Document
    from docx.table import Table

    guard_container(name, data)
    document = Document(io.BytesIO(data))
    blocks: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            table = markdown_table([cell.text for cell in row.cells] for row in item.rows)
            if table:
                blocks.append(table)
            continue
        text = item.text.strip()
        if not text:
            continue
        style = item.style.name if item.style is not None else ""
        level = re.fullmatch(r"Heading (\d)", style or "")
        if level:
            text = "#" * int(level.group(1)) + " " + text
        elif style == "Title":
            text = "# " + text
        blocks.append(text)
    return "\n\n".join(blocks)


def _shape_texts(shapes: Iterable[Any]) -> Iterator[str]:
    from pptx.shapes.group import GroupShape

    for shape in shapes:
        if isinstance(shape, GroupShape):
            yield from _shape_texts(shape.shapes)
            continue
        if getattr(shape, "has_text_frame", False):
            for paragraph in shape.text_frame.paragraphs:
                text = "".join(run.text for run in paragraph.runs).strip()
                if text:
                    yield text
        if getattr(shape, "has_table", False):
            rows = ([cell.text for cell in row.cells] for row in shape.table.rows)
            table = markdown_table(rows)
            if table:
                yield table


def _parse_pptx(name: str, data: bytes) -> str:
    """Slide by slide: text frames and tables (the reference's parse_ppt), plus speaker notes."""
    from pptx import Presentation

    guard_container(name, data)
    presentation = Presentation(io.BytesIO(data))
    slides: list[str] = []
    for number, slide in enumerate(presentation.slides, start=1):
        parts = list(_shape_texts(slide.shapes))
        if slide.has_notes_slide:
            notes = (slide.notes_slide.notes_text_frame.text or "").strip()
            if notes:
                parts.append(f"Notes: {notes}")
        if parts:
            slides.append(f"## Slide {number}\n" + "\n".join(parts))
    return "\n\n".join(slides)


def _parse_xlsx(name: str, data: bytes) -> str:
    from openpyxl import load_workbook

    guard_container(name, data)
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets: list[str] = []
        for sheet in workbook.worksheets:
            table = markdown_table(sheet.iter_rows(values_only=True))
            if table:
                sheets.append(f"## Sheet: {sheet.title}\n{table}")
    finally:
        workbook.close()
    return "\n\n".join(sheets)


def _with_note(text: str, name: str, cut: int) -> str:
    note = cut_note(name, cut)
    return f"{text}\n{note}" if note and text else text


def _parse_text(name: str, data: bytes) -> str:
    text, cut = decode(name, data)
    return _with_note(clean(text), name, cut)


def _parse_delimited(name: str, data: bytes, delimiter: str) -> str:
    text, cut = decode(name, data)
    table = markdown_table(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return _with_note(table, name, cut)


def _parse_html(name: str, data: bytes) -> str:
    text, cut = decode(name, data)
    return _with_note(html_to_text(text), name, cut)


def _parse_zip(name: str, data: bytes) -> str:
    """Each member parsed like a file of its own, under `## {member}`; nested archives and
    members that cannot be read locally are named with the reason (the reference skips them)."""
    parts: list[str] = []
    parsed = 0
    left = MAX_UNPACKED_BYTES  # inflated bytes all members may still take, whatever they state
    with open_zip(name, data, MAX_ZIP_MEMBERS) as archive:
        for info in archive.infolist():
            member = info.filename
            base = member.rstrip("/").rsplit("/", 1)[-1]
            if info.is_dir() or member.startswith("__MACOSX/") or base.startswith("."):
                continue
            try:
                content = read_member(name, data, info, left)
                left -= len(content)
                if classify(member, content)[0] == "zip":
                    raise ToolError("nested archives are not unpacked")
                text = parse_bytes(member, content)
                parsed += 1
            except ZipBomb:
                raise
            except ToolError as error:  # encrypted, corrupt, unknown compression, unreadable
                text = f"[not parsed: {error}]"
            parts.append(f"## {member}\n{text}")
    if not parsed:
        detail = ("\n" + "\n".join(parts)) if parts else ""
        raise ToolError(f"no parseable content found in the ZIP archive {name}{detail}")
    return "\n\n".join(parts)


def _parse(name: str, data: bytes) -> str:
    kind, fmt = classify(name, data)
    if not data:
        raise ToolError(f"{name} is empty")
    if kind == "text":
        text = _parse_text(name, data)
    elif kind == "pdf":
        text = _parse_pdf(name, data)
    elif kind == "docx":
        text = _parse_docx(name, data)
    elif kind == "pptx":
        text = _parse_pptx(name, data)
    elif kind == "xlsx":
        text = _parse_xlsx(name, data)
    elif kind in ("csv", "tsv"):
        text = _parse_delimited(name, data, "," if kind == "csv" else "\t")
    elif kind == "html":
        text = _parse_html(name, data)
    elif kind == "zip":
        text = _parse_zip(name, data)
    elif kind == "audio":
        raise NeedsModel(f"{name} is audio ({fmt}); transcribing it needs a speech model")
    elif kind == "video":
        raise NeedsModel(f"{name} is video ({fmt}); reading it needs a multimodal model")
    elif kind == "image":
        raise NeedsModel(f"{name} is an image ({fmt}); reading it needs a vision model")
    elif kind == "legacy":
        raise ToolError(
            f"unsupported file type of {name}: legacy/OpenDocument formats are not parsed; "
            "convert it to PDF, DOCX, PPTX or XLSX"
        )
    else:
        raise ToolError(
            f"unsupported file type of {name}: supported are PDF, DOCX, PPTX, XLSX, CSV, TSV, "
            "TXT, MD, JSON, HTML, ZIP (and, with DASHSCOPE_API_KEY, audio, video and images)"
        )
    if not text.strip():
        raise ToolError(f"no text could be extracted from {name}")
    return text


def parse_bytes(name: str, data: bytes) -> str:
    """Text of one file, chosen by extension (by content when the extension says nothing).

    Pure: bytes in, text out, so the local-corpus indexer shares it. Raises ToolError for
    unsupported types and unreadable content, NeedsModel (a ToolError) for what only a
    Dashscope model can read."""
    try:
        return _parse(name, data)
    except ToolError:
        raise
    except Exception as error:  # the parser libraries raise many types on malformed input
        kind = classify(name, data)[0]
        raise ToolError(
            f"could not read {name} as {kind.upper()}: {type(error).__name__}: {error}"
        ) from error


__all__ = ["NeedsModel", "markdown_table", "parse_bytes"]
