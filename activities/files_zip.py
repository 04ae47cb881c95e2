"""ZIP archives inflated under hard caps: uploaded ZIPs and the packages of DOCX, PPTX and XLSX.

A member's header states its size, but zipfile's `read()` inflates everything its compressed
bytes hold in one call and only then cuts to the stated size: a member that claims 1 byte can
take a gigabyte first. So members are inflated here as streams, in bounded chunks, counting the
bytes actually produced against the caps and against the stated size, whatever the headers say.
An Office package is checked that way member by member before python-docx, python-pptx or
openpyxl (which read members with `read()`) see it: afterwards each member is known to inflate
to exactly its stated size.
"""

from __future__ import annotations

import bz2
import io
import struct
import zipfile
import zlib
from collections.abc import Iterator

from activities.errors import ToolError

MAX_UNPACKED_BYTES = 100 * 1024 * 1024  # all members of one archive together
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # one member
MAX_ZIP_MEMBERS = 500  # an uploaded ZIP
MAX_CONTAINER_MEMBERS = 10_000  # an Office document's own package
CHUNK_BYTES = 1 << 20  # inflated at most this much at a time
_INPUT_BYTES = 64 * 1024  # compressed bytes handed to the decompressor at a time
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature ... file name length, extra field length


class ZipBomb(ToolError):
    """An archive refused as a whole: its members unpack (or claim to) past the caps, or to
    more than they state."""


def _bomb(name: str, detail: str) -> ZipBomb:
    return ZipBomb(f"refused {name}: {detail}; possibly a zip bomb")


def open_zip(name: str, data: bytes, max_members: int) -> zipfile.ZipFile:
    """A ZipFile whose member count and stated sizes are within bounds; the members are
    still to be inflated with `inflate`."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ToolError(f"{name} is not a readable ZIP package: {error}") from None
    infos = archive.infolist()
    if len(infos) > max_members:
        archive.close()
        raise ToolError(
            f"refused {name}: the archive has {len(infos)} entries (at most {max_members})"
        )
    unpacked = sum(info.file_size for info in infos)
    if unpacked > MAX_UNPACKED_BYTES:
        archive.close()
        raise _bomb(name, f"it unpacks to {unpacked} bytes (at most {MAX_UNPACKED_BYTES})")
    return archive


def _compressed(data: bytes, info: zipfile.ZipInfo) -> memoryview:
    """The member's compressed bytes, located as zipfile locates them (after its local
    header), `compress_size` long as the central directory says."""
    start = info.header_offset
    signature, name_length, extra_length = _LOCAL_HEADER.unpack_from(data, start)
    if signature != b"PK\x03\x04":
        raise ToolError(f"{info.filename}: bad local header")
    begin = start + _LOCAL_HEADER.size + name_length + extra_length
    return memoryview(data)[begin : begin + info.compress_size]


def _deflated(raw: memoryview) -> Iterator[bytes]:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    for start in range(0, len(raw), _INPUT_BYTES):
        pending: bytes | memoryview = raw[start : start + _INPUT_BYTES]
        while pending and not inflater.eof:
            yield inflater.decompress(pending, CHUNK_BYTES)
            pending = inflater.unconsumed_tail
        if inflater.eof:
            return
    while not inflater.eof and (out := inflater.decompress(b"", CHUNK_BYTES)):
        yield out  # output still held back for want of room


def _bzip2(raw: memoryview) -> Iterator[bytes]:
    inflater = bz2.BZ2Decompressor()
    for start in range(0, len(raw), _INPUT_BYTES):
        yield inflater.decompress(raw[start : start + _INPUT_BYTES], CHUNK_BYTES)
        while not inflater.eof and not inflater.needs_input:
            yield inflater.decompress(b"", CHUNK_BYTES)
        if inflater.eof:
            return


def _stored(raw: memoryview) -> Iterator[bytes]:
    for start in range(0, len(raw), CHUNK_BYTES):
        yield bytes(raw[start : start + CHUNK_BYTES])


def inflate(name: str, data: bytes, info: zipfile.ZipInfo, budget: int) -> Iterator[bytes]:
    """The member's bytes in chunks of at most CHUNK_BYTES, never more than
    min(budget, MAX_MEMBER_BYTES) in all and never more than the member states (ZipBomb);
    ToolError for encrypted, truncated or corrupt members and unsupported compression."""
    member = info.filename
    if info.flag_bits & 0x1:
        raise ToolError(f"{member} is encrypted")
    streams = {
        zipfile.ZIP_STORED: _stored,
        zipfile.ZIP_DEFLATED: _deflated,
        zipfile.ZIP_BZIP2: _bzip2,
    }
    stream = streams.get(info.compress_type)
    if stream is None:
        raise ToolError(f"{member} uses an unsupported compression (method {info.compress_type})")
    cap = min(budget, MAX_MEMBER_BYTES)
    produced, crc = 0, 0
    try:
        for chunk in stream(_compressed(data, info)):
            produced += len(chunk)
            if produced > info.file_size:
                raise _bomb(name, f"{member} inflates past its stated {info.file_size} bytes")
            if produced > cap:
                if cap < MAX_MEMBER_BYTES:  # the archive's budget ran out first
                    raise _bomb(name, f"its members unpack to more than {MAX_UNPACKED_BYTES} bytes")
                raise _bomb(name, f"{member} unpacks to more than {cap} bytes")
            crc = zlib.crc32(chunk, crc)
            yield chunk
    except (zlib.error, OSError, EOFError, struct.error) as error:
        raise ToolError(f"{member} is corrupt: {error}") from None
    if produced != info.file_size:
        raise ToolError(f"{member} is truncated ({produced} of {info.file_size} bytes)")
    if crc != info.CRC:
        raise ToolError(f"{member} is corrupt (bad CRC-32)")


def read_member(name: str, data: bytes, info: zipfile.ZipInfo, budget: int) -> bytes:
    """The whole member, inflated under the caps of `inflate`."""
    return b"".join(inflate(name, data, info, budget))


def guard_container(name: str, data: bytes) -> None:
    """Refuse an Office package unless every member inflates, as a stream, to what it states
    and all of them stay within the caps; only then may a library `read()` its members."""
    with open_zip(name, data, MAX_CONTAINER_MEMBERS) as archive:
        left = MAX_UNPACKED_BYTES
        for info in archive.infolist():
            if info.is_dir():
                continue
            try:
                for chunk in inflate(name, data, info, left):
                    left -= len(chunk)
            except ZipBomb:
                raise
            except ToolError as error:
                raise ToolError(f"{name} is not a readable package: {error}") from None


__all__ = [
    "MAX_MEMBER_BYTES",
    "MAX_UNPACKED_BYTES",
    "MAX_ZIP_MEMBERS",
    "ZipBomb",
    "guard_container",
    "inflate",
    "open_zip",
    "read_member",
]
