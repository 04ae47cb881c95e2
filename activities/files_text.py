"""Uploaded text decoded: UTF-8 or UTF-16 by BOM, else the detected legacy charset; binary
content refused, and no more than MAX_TEXT_BYTES of one file decoded.

A NUL byte is not the only sign of binary data: compressed or random bytes contain none in
about one file of ten at 2 MB, and a charset detector will still name a code page for them. So
legacy-encoded text must also be nearly free of C0 control bytes (other than tab, newlines,
form feed and escape) and decode with almost no replacement characters. The cap exists because
decoding and cleaning copy the text several times (a 200 MB file took 1.1 GB), while a file's
observation keeps at most the call's token budget (58K tokens, under 200 KB) of it anyway.
"""

from __future__ import annotations

import codecs
import re

from activities.errors import ToolError

MAX_TEXT_BYTES = 8 * 1024 * 1024
SAMPLE_BYTES = 64 * 1024  # what the charset detector and the control-byte count look at
MAX_CONTROL_RATIO = 0.01
MAX_REPLACED_RATIO = 0.01
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CONTROL = bytes([*range(0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
CUT_NOTE = "[{name}: {cut} more bytes not read; the first {kept} are above]"


def _binary(name: str) -> ToolError:
    return ToolError(f"{name} looks binary, not text")


def _control_ratio(sample: bytes) -> float:
    return (len(sample) - len(sample.translate(None, _CONTROL))) / max(1, len(sample))


def _legacy_encoding(sample: bytes) -> str | None:
    """The detected charset of non-UTF-8 text (GBK, Big5, Shift-JIS, cp1251... are common in
    uploads); None when no encoding reads it as text."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a dependency of trafilatura
        return "cp1252"
    matches = from_bytes(sample)
    best = matches.best()
    if best is None:
        return None
    # On short Western text the detector's favourite is often an exotic Latin code page; the
    # most common legacy encoding wins when it reads the text about as cleanly.
    western = next((m for m in matches if m.encoding == "cp1252"), None)
    if western is not None and western.chaos <= best.chaos + 0.15:
        return "cp1252"
    return best.encoding


def decode(name: str, data: bytes) -> tuple[str, int]:
    """(text of at most the first MAX_TEXT_BYTES, bytes left unread); ToolError when the
    bytes look binary."""
    head = data[:MAX_TEXT_BYTES]
    cut = len(data) - len(head)
    if head.startswith(_UTF16_BOMS):
        if cut and len(head) % 2:
            head, cut = head[:-1], cut + 1
        return head.decode("utf-16", errors="replace"), cut
    if b"\x00" in head[:8192]:
        raise _binary(name)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        text = decoder.decode(head, final=not cut)
        return text, cut + len(decoder.getstate()[0])  # a character split by the cap
    except UnicodeDecodeError:
        pass
    sample = head[:SAMPLE_BYTES]
    if _control_ratio(sample) > MAX_CONTROL_RATIO:
        raise _binary(name)
    encoding = _legacy_encoding(sample)
    if encoding is None:
        raise _binary(name)
    text = head.decode(encoding, errors="replace")
    if text.count("\ufffd") > MAX_REPLACED_RATIO * len(text):
        raise _binary(name)
    return text, cut


def cut_note(name: str, cut: int) -> str:
    """The line saying how much of a file was not read ("" when all of it was)."""
    return CUT_NOTE.format(name=name, cut=cut, kept=MAX_TEXT_BYTES) if cut else ""


def clean(text: str) -> str:
    """Line endings normalised and runs of blank lines squeezed, as the reference's clean_text
    does for extracted paragraphs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


__all__ = ["MAX_TEXT_BYTES", "clean", "cut_note", "decode"]
