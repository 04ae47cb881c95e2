"""Text of bodies that untrusted servers send, decoded without ever raising.

A page names its own charset, and Python resolves some names to codecs that are no text
encoding (rot13, base64, hex, zlib: LookupError or worse inside httpx's decoders) or that cannot
decode arbitrary bytes (idna, punycode, undefined, utf-32 without a BOM: UnicodeError). Any of
those must not fail a tool call: such a body is read as UTF-8, like one without a charset.
"""

from __future__ import annotations

import codecs

import httpx

FALLBACK = "utf-8"


def decode(body: bytes, charset: str | None) -> str:
    """`body` in its declared charset when that is a usable text encoding, else UTF-8. A body
    its charset cannot decode (utf-32 named for ASCII bytes) is read in whichever of the two
    leaves fewer U+FFFD."""
    fallback = body.decode(FALLBACK, errors="replace")
    if charset:
        try:
            if getattr(codecs.lookup(charset), "_is_text_encoding", True):  # not rot13, base64..
                try:
                    return body.decode(charset)
                except UnicodeDecodeError:  # mislabelled, or a few bad bytes: the lesser evil
                    declared = body.decode(charset, errors="replace")
                    return min(declared, fallback, key=lambda text: text.count("\ufffd"))
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass  # unknown name, or a codec that fails even with errors="replace"
    return fallback


def response_text(response: httpx.Response) -> str:
    """What `response.text` should be: httpx's own decoders raise on hostile charsets."""
    return decode(response.content, response.charset_encoding)
