"""What an uploaded file is (pdf, docx, text, image, ...): by extension, else by content."""

from __future__ import annotations

import io
import zipfile

_TEXT = frozenset(
    "txt text md markdown rst json jsonl jsonld ndjson xml yaml yml toml ini cfg conf log tex "
    "py pdb js ts java c h cc cpp hpp cs go rs rb php sh sql r swift kt scala css srt vtt".split()
)
EXTENSIONS: dict[str, str] = {
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
IMAGE_MIME = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
}


def extension(name: str) -> str:
    """The lower-case extension of the last path component ("" when there is none)."""
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


def classify(name: str, data: bytes) -> tuple[str, str]:
    """(kind, format): the extension decides when it is known, the content otherwise."""
    ext = extension(name)
    kind = EXTENSIONS.get(ext)
    if kind is not None:
        return kind, ext
    return _sniff(data)


__all__ = ["EXTENSIONS", "IMAGE_MIME", "classify", "extension"]
