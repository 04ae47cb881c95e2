"""The `parse_file` tool: uploaded files (blobs) parsed to text locally, or by Dashscope models.

Behaviour follows Alibaba-NLP/DeepResearch `inference/tool_file.py` and
`inference/file_tools/file_parser.py` (Apache-2.0): each file becomes `# File: {name}\\n{text}`
(or `# Error processing {name}: {error}`), the list is checked against qwen-agent's
DEFAULT_MAX_INPUT_TOKENS (58000 in qwen-agent 0.0.26, the reference's pin) and, when over it,
every parsed file is cut to an equal share of that budget; the observation opens with
`File token number: {n}\\nFile content:\\n`, where n counts whitespace-separated words, as the
reference does. Deviations, each for the model's sake: the reference renders its list with
Python's `str()` (quotes and escaped newlines); we join the parts with blank lines. It drops the
`# File:` headers and the error lines when it compresses; we keep them, so the model still knows
which text is which file. Local parsers replace the reference's IDP/pdfminer/pandas ones.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import datetime
import io
import json
import math
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from activities.context import ToolContext, current
from activities.errors import ToolError, from_transport, status_error
from activities.heartbeat import beat
from activities.html_text import html_to_text
from activities.outcome import observe
from graphs.react import estimate_tokens, truncate_tokens

# qwen-agent 0.0.26 `settings.DEFAULT_MAX_INPUT_TOKENS`, the budget the reference applies to the
# files of one call (counted here with `estimate_tokens`: we have no Qwen tokenizer).
DEFAULT_MAX_INPUT_TOKENS = 58_000
TOKEN_NUMBER_PREFIX = "File token number: {n}\nFile content:\n"
FILE_HEADER = "# File: {name}\n{text}"
FILE_ERROR = "# Error processing {name}: {error}"
PARSE_FAILED = "Document parsing failed"  # the reference's message for any file it cannot read
PART_SEPARATOR = "\n\n"

# Archives (uploaded ZIPs and the ZIP containers of DOCX/PPTX/XLSX) are refused beyond these
# sizes before anything is inflated: zipfile stops every member at its declared size, so the
# declared total bounds the memory a bomb can take.
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_ZIP_MEMBERS = 500  # an uploaded ZIP
MAX_CONTAINER_MEMBERS = 10_000  # an Office document's own package

# Dashscope (OpenAI-compatible mode). The reference transcribes audio with VIDEO_MODEL_NAME
# (default qwen-omni-turbo), which only streams; images and scanned pages go to a VL model.
AUDIO_MODEL = "qwen-omni-turbo"
VISION_MODEL = "qwen-vl-max"
TRANSCRIBE_PROMPT = "Completely transcribe this audio content with all details"  # the reference's
VIDEO_PROMPT = (
    "Completely transcribe the speech in this video and describe what is shown, "
    "including any visible text, with all details."
)
IMAGE_PROMPT = (
    "Transcribe all text in this document image exactly, keeping its reading order, tables "
    "(as markdown) and headings; then briefly describe any figures."
)
MAX_INLINE_BYTES = 7 * 1024 * 1024  # base64 grows it by 4/3; Dashscope caps inline data at 10 MB
MAX_PDF_PAGES = 20  # page images sent for one scanned PDF
DASHSCOPE_TIMEOUT = httpx.Timeout(120.0, connect=15.0)

_TEXT = frozenset(
    "txt text md markdown rst json jsonl jsonld ndjson xml yaml yml toml ini cfg conf log tex "
    "py pdb js ts java c h cc cpp hpp cs go rs rb php sh sql r swift kt scala css srt vtt".split()
)
_EXTENSIONS: dict[str, str] = {
    "pdf": "pdf",
    "docx": "docx",
    "pptx": "pptx",
    "xlsx": "xlsx",
    "xlsm": "xlsx",
    "csv": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "zip": "zip",
    **{ext: "text" for ext in _TEXT},
    **{ext: "image" for ext in ("png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff")},
    **{ext: "audio" for ext in ("mp3", "wav", "aac", "ogg", "oga", "flac", "m4a", "amr", "opus")},
    **{ext: "video" for ext in ("mp4", "mov", "avi", "mkv", "webm", "m4v")},
    **{ext: "legacy" for ext in ("doc", "xls", "ppt", "rtf", "odt", "ods", "odp")},
}
_IMAGE_MIME = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
}


class NeedsModel(ToolError):
    """Content that local parsers cannot read but a Dashscope model can (audio, video, images,
    scanned PDFs); `parse_files` sends these to `dashscope_parse` when a key is set."""


# -- type detection ---------------------------------------------------------------------------


def _extension(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def _sniff(data: bytes) -> tuple[str, str]:
    """(kind, format) from magic bytes, for names whose extension says nothing."""
    head = data[:16]
    if head.startswith(b"%PDF-"):
        return "pdf", "pdf"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(data), "zip"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image", "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "wav"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio", "mp3"
    if head.startswith(b"fLaC"):
        return "audio", "flac"
    if head.startswith(b"OggS"):
        return "audio", "ogg"
    if head[4:8] == b"ftyp":
        return ("audio", "m4a") if head[8:11] == b"M4A" else ("video", "mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "webm"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "legacy", "ole"
    if b"\x00" in data[:8192]:
        return "binary", ""
    start = data[:512].lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "html", "html"
    return "text", "txt"


def _zip_kind(data: bytes) -> str:
    """An Office Open XML package is a ZIP; its members say which one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return "zip"
    for member, kind in (
        ("word/document.xml", "docx"),
        ("ppt/presentation.xml", "pptx"),
        ("xl/workbook.xml", "xlsx"),
    ):
        if member in names:
            return kind
    return "zip"


def _classify(name: str, data: bytes) -> tuple[str, str]:
    ext = _extension(name)
    kind = _EXTENSIONS.get(ext)
    if kind is not None:
        return kind, ext
    return _sniff(data)


# -- local parsers ----------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    """UTF-8 first (with or without BOM), UTF-16 by BOM, else the detected charset (GBK, Big5,
    Shift-JIS, cp1251... are common in uploads)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a dependency of trafilatura
        return data.decode("cp1252", errors="replace")
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        return data.decode("cp1252", errors="replace")
    # On short Western text the detector's favourite is often an exotic Latin code page; the
    # most common legacy encoding wins when it reads the text about as cleanly.
    western = next((m for m in matches if m.encoding == "cp1252"), None)
    if western is not None and western.chaos <= best.chaos + 0.15:
        return str(western)
    return str(best)


def _clean(text: str) -> str:
    """Line endings normalised and runs of blank lines squeezed, as the reference's clean_text
    does for extracted paragraphs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


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


def _open_zip(name: str, data: bytes, max_members: int) -> zipfile.ZipFile:
    """A ZipFile whose declared sizes and member count are within bounds (zip-bomb guard)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ToolError(f"{name} is not a readable ZIP package: {error}") from None
    infos = archive.infolist()
    unpacked = sum(info.file_size for info in infos)
    if len(infos) > max_members:
        archive.close()
        raise ToolError(
            f"refused {name}: the archive has {len(infos)} entries (at most {max_members})"
        )
    if unpacked > MAX_UNPACKED_BYTES:
        archive.close()
        raise ToolError(
            f"refused {name}: it unpacks to {unpacked} bytes (at most {MAX_UNPACKED_BYTES}); "
            "possibly a zip bomb"
        )
    return archive


def _guard_container(name: str, data: bytes) -> None:
    _open_zip(name, data, MAX_CONTAINER_MEMBERS).close()


def _parse_pdf(name: str, data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ToolError(f"{name} is an encrypted PDF that needs a password")
    pages = [_clean(page.extract_text() or "") for page in reader.pages]
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

    _guard_container(name, data)
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

    _guard_container(name, data)
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

    _guard_container(name, data)
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


def _parse_delimited(data: bytes, delimiter: str) -> str:
    text = _decode(data)
    return markdown_table(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _parse_html(data: bytes) -> str:
    return html_to_text(_decode(data))


def _parse_zip(name: str, data: bytes) -> str:
    """Each member parsed like a file of its own, under `## {member}`; nested archives and
    members that cannot be read locally are named with the reason (the reference skips them)."""
    parts: list[str] = []
    parsed = 0
    with _open_zip(name, data, MAX_ZIP_MEMBERS) as archive:
        for info in archive.infolist():
            member = info.filename
            base = member.rstrip("/").rsplit("/", 1)[-1]
            if info.is_dir() or member.startswith("__MACOSX/") or base.startswith("."):
                continue
            try:
                content = archive.read(info)
                if _classify(member, content)[0] == "zip":
                    raise ToolError("nested archives are not unpacked")
                text = parse_bytes(member, content)
                parsed += 1
            except ToolError as error:
                text = f"[not parsed: {error}]"
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as error:
                text = f"[not parsed: {error}]"  # encrypted, corrupt or unknown compression
            parts.append(f"## {member}\n{text}")
    if not parsed:
        detail = ("\n" + "\n".join(parts)) if parts else ""
        raise ToolError(f"no parseable content found in the ZIP archive {name}{detail}")
    return "\n\n".join(parts)


def _parse(name: str, data: bytes) -> str:
    kind, fmt = _classify(name, data)
    if not data:
        raise ToolError(f"{name} is empty")
    if kind == "text":
        if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ToolError(f"{name} looks binary, not text")
        text = _clean(_decode(data))
    elif kind == "pdf":
        text = _parse_pdf(name, data)
    elif kind == "docx":
        text = _parse_docx(name, data)
    elif kind == "pptx":
        text = _parse_pptx(name, data)
    elif kind == "xlsx":
        text = _parse_xlsx(name, data)
    elif kind in ("csv", "tsv"):
        text = _parse_delimited(data, "," if kind == "csv" else "\t")
    elif kind == "html":
        text = _parse_html(data)
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
        kind = _classify(name, data)[0]
        raise ToolError(
            f"could not read {name} as {kind.upper()}: {type(error).__name__}: {error}"
        ) from error


# -- Dashscope ---------------------------------------------------------------------------------


def _data_url(data: bytes, mime: str = "") -> str:
    """Dashscope's documented inline form is `data:;base64,...`; a MIME type is optional."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _pdf_page_images(data: bytes) -> list[tuple[str, bytes]]:
    """(mime, bytes) of the images on the first MAX_PDF_PAGES pages: a scanned PDF is one
    image per page, which pypdf hands back already encoded (JPEG as is, others as PNG)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        reader.decrypt("")
    images: list[tuple[str, bytes]] = []
    for page in reader.pages[:MAX_PDF_PAGES]:
        for image in page.images:
            ext = _extension(image.name)
            images.append((_IMAGE_MIME.get(ext, "image/png"), image.data))
    return images


async def _dashscope_chat(ctx: ToolContext, model: str, content: list[dict[str, Any]]) -> str:
    """One streamed chat completion (Qwen-Omni only streams); a JSON answer is accepted too."""
    url = f"{ctx.dashscope_url.rstrip('/')}/chat/completions"
    payload = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "modalities": ["text"],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"Authorization": f"Bearer {ctx.dashscope_key}"}
    parts: list[str] = []
    try:
        async with ctx.http.stream(
            "POST", url, json=payload, headers=headers, timeout=DASHSCOPE_TIMEOUT
        ) as response:
            if not response.is_success:
                await response.aread()
                raise status_error(
                    "Dashscope", response.status_code, response.headers, response.text
                )
            if "text/event-stream" not in response.headers.get("content-type", ""):
                body = json.loads(await response.aread())
                _raise_for_body_error(body)
                message = (body.get("choices") or [{}])[0].get("message") or {}
                return str(message.get("content") or "").strip()
            async for line in response.aiter_lines():
                beat()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                _raise_for_body_error(chunk)
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if isinstance(piece, str):
                        parts.append(piece)
    except httpx.HTTPError as error:
        raise from_transport("Dashscope", error) from error
    except ValueError as error:  # a body that is not the JSON it claims
        raise ApplicationError(f"Dashscope: malformed answer: {error}", type="BadAnswer") from error
    return "".join(parts).strip()


def _raise_for_body_error(body: Any) -> None:
    if isinstance(body, dict) and body.get("error"):
        error = body["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise ApplicationError(f"Dashscope: {message}", type="DashscopeError", non_retryable=True)


async def dashscope_parse(ctx: ToolContext, name: str, data: bytes) -> str:
    """Text of what local parsers cannot read: audio (transcribed by Qwen-Omni, as the
    reference's VideoAgent does), video, images and scanned PDFs (read by Qwen-VL)."""
    kind, fmt = _classify(name, data)
    if not ctx.dashscope_key:
        raise ToolError(
            f"{name} ({kind}) can only be read by a Dashscope model, and DASHSCOPE_API_KEY is "
            "not set"
        )
    content: list[dict[str, Any]]
    if kind == "audio":
        audio_format = "ogg" if fmt == "oga" else fmt
        # The reference's request: its prompt, then the audio as a data URL with its format.
        content = [
            {"type": "text", "text": TRANSCRIBE_PROMPT},
            {
                "type": "input_audio",
                "input_audio": {
                    "data": _data_url(data, f"audio/{audio_format}"),
                    "format": audio_format,
                },
            },
        ]
        model, size = AUDIO_MODEL, len(data)
    elif kind == "video":
        content = [
            {"type": "video_url", "video_url": {"url": _data_url(data)}},
            {"type": "text", "text": VIDEO_PROMPT},
        ]
        model, size = AUDIO_MODEL, len(data)
    elif kind == "image":
        mime = _IMAGE_MIME.get(fmt, "image/png")
        content = [
            {"type": "image_url", "image_url": {"url": _data_url(data, mime)}},
            {"type": "text", "text": IMAGE_PROMPT},
        ]
        model, size = VISION_MODEL, len(data)
    elif kind == "pdf":
        try:
            images = await asyncio.to_thread(_pdf_page_images, data)
        except Exception as error:
            raise ToolError(f"could not read the page images of {name}: {error}") from error
        if not images:
            raise ToolError(f"{name} has neither extractable text nor page images")
        content = [
            {"type": "image_url", "image_url": {"url": _data_url(image, mime)}}
            for mime, image in images
        ]
        content.append({"type": "text", "text": IMAGE_PROMPT})
        model, size = VISION_MODEL, sum(len(image) for _, image in images)
    else:
        raise ToolError(f"Dashscope models do not read {name} ({kind})")
    if size > MAX_INLINE_BYTES:
        raise ToolError(
            f"{name} is too large to send to Dashscope inline ({size} bytes, at most "
            f"{MAX_INLINE_BYTES})"
        )
    text = await _dashscope_chat(ctx, model, content)
    if not text:
        raise ToolError(f"Dashscope returned no text for {name}")
    return text


# -- the tool ----------------------------------------------------------------------------------


async def _parse_one(ctx: ToolContext, name: str, digest: str) -> str:
    try:
        data = await asyncio.to_thread(ctx.blobs.get, digest)
    except (KeyError, ValueError):
        raise ToolError(f"the uploaded file {name} is no longer in the blob store") from None
    try:
        return await asyncio.to_thread(parse_bytes, name, data)
    except NeedsModel as local:
        if not ctx.dashscope_key:
            raise ToolError(f"{local}; set DASHSCOPE_API_KEY to read it with Dashscope") from None
        return await dashscope_parse(ctx, name, data)


def missing_line(name: str) -> str:
    """The answer for a requested name that was not uploaded (the reference fails it like any
    unreadable file, as `# Error processing {name}: Document parsing failed`)."""
    return FILE_ERROR.format(name=name, error=f"{PARSE_FAILED}: no uploaded file is named {name!r}")


def render(parts: Sequence[str]) -> str:
    """The reference's output list, `[prefix] + parts`, with the prefix's word count."""
    n = len(" ".join(parts).split())
    return TOKEN_NUMBER_PREFIX.format(n=n) + PART_SEPARATOR.join(parts)


async def parse_files(
    ctx: ToolContext,
    files: dict[str, str],
    *,
    missing: Sequence[str] = (),
    budget: int = DEFAULT_MAX_INPUT_TOKENS,
) -> str:
    """The parse_file observation for uploaded `files` (name -> blob digest).

    A file that cannot be read becomes its error line, as in the reference; a retryable
    Dashscope failure propagates, so the activity is retried (the caller's `observe` answers
    with its fallback after the last attempt)."""
    results: list[str] = []
    parsed: list[tuple[int, str, str]] = []  # (index in results, name, text)
    for name, digest in files.items():
        try:
            text = await _parse_one(ctx, name, digest)
        except ToolError as error:
            results.append(FILE_ERROR.format(name=name, error=error))
        except ApplicationError as error:
            if not error.non_retryable:
                raise
            results.append(FILE_ERROR.format(name=name, error=error.message))
        else:
            parsed.append((len(results), name, text))
            results.append(FILE_HEADER.format(name=name, text=text))
        beat()
    results.extend(missing_line(name) for name in missing)
    # Reference: `count_tokens(json.dumps(results)) < DEFAULT_MAX_INPUT_TOKENS`, else
    # `compress(file_results)`: every parsed file cut to floor(budget / number parsed) tokens.
    if parsed and estimate_tokens(json.dumps(results, ensure_ascii=False)) >= budget:
        share = math.floor(budget / len(parsed))
        for index, name, text in parsed:
            results[index] = FILE_HEADER.format(name=name, text=truncate_tokens(text, share))
    return render(results)


async def parse_file(task: dict[str, Any]) -> dict[str, Any]:
    """Graph node: the parse_file call's observation. `files` maps the requested names that
    were uploaded to their blobs; `missing` lists the requested names that were not."""
    files: dict[str, str] = dict(task.get("files") or {})
    missing: list[str] = list(task.get("missing") or [])
    fallback = render(
        [
            FILE_ERROR.format(name=name, error=f"{PARSE_FAILED}: the file service did not answer")
            for name in files
        ]
        + [missing_line(name) for name in missing]
    )
    return await observe(
        task,
        parse_files(current(), files, missing=missing),
        fallback=fallback,
        label="parse_file",
    )


__all__ = [
    "DEFAULT_MAX_INPUT_TOKENS",
    "NeedsModel",
    "dashscope_parse",
    "markdown_table",
    "parse_bytes",
    "parse_file",
    "parse_files",
]
