"""Uploaded text decoded: UTF-8 or UTF-16 by BOM, else the detected legacy charset."""

from __future__ import annotations

import re


def decode(data: bytes) -> str:
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


def clean(text: str) -> str:
    """Line endings normalised and runs of blank lines squeezed, as the reference's clean_text
    does for extracted paragraphs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


__all__ = ["clean", "decode"]
