"""parse_file under hostile uploads, measured: archives whose headers lie about their sizes,
binary junk posing as text, and text too large to decode whole. Memory is measured as the peak
RSS growth of a real subprocess parsing a real file, against the target that no upload may
grow a worker by more than RSS_BUDGET_MIB."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from activities.errors import ToolError
from activities.files import parse_bytes
from activities.files_text import MAX_TEXT_BYTES
from activities.files_zip import MAX_MEMBER_BYTES, ZipBomb, inflate, read_member
from tests.activity.test_act_files import docx_bytes, zip_bytes

REPO = Path(__file__).resolve().parents[2]
RSS_BUDGET_MIB = 256
GIB = 1 << 30

# Parses one file in a fresh interpreter and prints its peak RSS growth (ru_maxrss, KiB); the
# parser libraries are imported first, so only the parsing counts.
MEASURE = """
import json, resource, sys
import docx, openpyxl, pptx, pypdf, charset_normalizer, trafilatura
from activities.errors import ToolError
from activities.files import parse_bytes
path, name = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
parse_bytes("warm.txt", b"warm up")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    outcome = "parsed: " + parse_bytes(name, data)[:200]
except ToolError as error:
    outcome = "ToolError: " + str(error)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mib": (after - before) / 1024, "outcome": outcome}))
"""


def measure(tmp_path: Path, name: str, data: bytes) -> tuple[float, str]:
    """(peak RSS growth in MiB, outcome) of parse_bytes(name, data) in a subprocess."""
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), name],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["growth_mib"], result["outcome"]


def lying_zip(members: dict[str, bytes], liar: str, stated: bytes, padding: int) -> bytes:
    """A deflated ZIP of `members` plus `liar`, which holds `stated` and then `padding` zero
    bytes while its local and central headers state only `stated` (its size and CRC-32), so
    zipfile's own size and CRC checks pass on the stated part."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        with archive.open(liar, "w") as member:
            member.write(stated)
            zeros = bytes(1 << 20)
            for _ in range(padding >> 20):
                member.write(zeros)
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo(liar)
    crc = zlib.crc32(stated).to_bytes(4, "little")
    size = len(stated).to_bytes(4, "little")
    local = info.header_offset
    data[local + 14 : local + 18], data[local + 22 : local + 26] = crc, size
    central = central_entry(data, liar)
    data[central + 16 : central + 20], data[central + 24 : central + 28] = crc, size
    return bytes(data)


def central_entry(data: bytes | bytearray, name: str) -> int:
    """Offset of `name`'s central directory entry (walked from the end-of-directory record)."""
    end = data.rindex(b"PK\x05\x06")
    entry = int.from_bytes(data[end + 16 : end + 20], "little")
    while data[entry : entry + 4] == b"PK\x01\x02":
        lengths = [
            int.from_bytes(data[entry + at : entry + at + 2], "little") for at in (28, 30, 32)
        ]
        if data[entry + 46 : entry + 46 + lengths[0]] == name.encode():
            return entry
        entry += 46 + sum(lengths)
    raise KeyError(name)


@pytest.fixture(scope="module")
def zip_lie() -> bytes:
    """A ZIP member that states 1 byte and inflates to 1 GiB of zeros."""
    return lying_zip({"notes.txt": b"plain notes"}, "zeros.txt", b"x", GIB)


@pytest.fixture(scope="module")
def docx_lie() -> bytes:
    """A DOCX whose word/document.xml states (and starts with) the real XML, followed by
    1 GiB of zeros: python-docx reads the member with zipfile.read()."""
    with zipfile.ZipFile(io.BytesIO(docx_bytes())) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    document = members.pop("word/document.xml")
    return lying_zip(members, "word/document.xml", document, GIB)


@pytest.mark.slow
def test_a_lying_zip_member_is_refused_within_the_memory_budget(
    tmp_path: Path, zip_lie: bytes
) -> None:
    # the lie is one zipfile itself believes (stated size and CRC-32 agree on one byte), so
    # only a check of the bytes actually inflated can catch it
    with zipfile.ZipFile(io.BytesIO(zip_lie)) as archive:
        assert archive.getinfo("zeros.txt").file_size == 1
        with archive.open("zeros.txt") as member:
            assert member.read(1 << 20) == b"x"
    growth, outcome = measure(tmp_path, "bomb.zip", zip_lie)
    assert outcome.startswith("ToolError: refused bomb.zip: zeros.txt inflates past its stated")
    assert outcome.endswith("possibly a zip bomb")
    assert growth < RSS_BUDGET_MIB, f"grew {growth:.0f} MiB"


@pytest.mark.slow
def test_a_lying_office_member_is_refused_within_the_memory_budget(
    tmp_path: Path, docx_lie: bytes
) -> None:
    growth, outcome = measure(tmp_path, "report.docx", docx_lie)
    assert "word/document.xml inflates past its stated" in outcome, outcome
    assert growth < RSS_BUDGET_MIB, f"grew {growth:.0f} MiB"


def test_inflation_stops_at_the_member_cap() -> None:
    honest = zip_bytes({"big.txt": bytes(MAX_MEMBER_BYTES + 1)})
    with zipfile.ZipFile(io.BytesIO(honest)) as archive:
        info = archive.getinfo("big.txt")
    produced = 0
    with pytest.raises(ZipBomb, match=f"big.txt unpacks to more than {MAX_MEMBER_BYTES} bytes"):
        for chunk in inflate("big.zip", honest, info, budget=10 * MAX_MEMBER_BYTES):
            produced += len(chunk)
    assert produced <= MAX_MEMBER_BYTES


def test_inflation_stops_at_the_archive_budget() -> None:
    archive_bytes = zip_bytes({"a.txt": bytes(3000), "b.txt": bytes(3000)})
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
        info = archive.getinfo("b.txt")
    with pytest.raises(ZipBomb, match="its members unpack to more than"):
        read_member("two.zip", archive_bytes, info, budget=2000)


def test_a_corrupt_member_is_named_and_the_rest_parsed() -> None:
    data = bytearray(zip_bytes({"good.txt": b"fine words", "bad.txt": b"y" * 5000}))
    data[central_entry(data, "bad.txt") + 16] ^= 0xFF  # the stated CRC-32 no longer matches
    text = parse_bytes("mixed.zip", bytes(data))
    assert "## good.txt\nfine words" in text
    assert "## bad.txt\n[not parsed: bad.txt is corrupt (bad CRC-32)]" in text


def test_honest_office_documents_still_parse() -> None:
    assert "# Quarterly Report" in parse_bytes("report.docx", docx_bytes())


# -- text ------------------------------------------------------------------------------------


def test_random_bytes_without_nul_are_binary() -> None:
    noise = bytes(b or 1 for b in random.Random(14).randbytes(2_000_000))
    with pytest.raises(ToolError, match="junk.txt looks binary, not text"):
        parse_bytes("junk.txt", noise)
    with pytest.raises(ToolError, match="looks binary"):
        parse_bytes("junk", noise)  # no extension: sniffed as text, then refused


def test_legacy_encodings_are_still_text() -> None:
    russian = "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 20
    assert parse_bytes("ru.txt", russian.encode("cp1251")) == russian.strip()
    japanese = "これは日本語のテキストファイルです。改行も含みます。\n" * 20
    assert parse_bytes("ja.txt", japanese.encode("shift_jis")) == japanese.strip()
    tabbed = "name\tvalue\fpage two\x1b[0m\n" * 50  # tab, form feed and ANSI escapes are text
    assert parse_bytes("log.txt", tabbed.encode()).startswith("name\tvalue")


def test_large_text_is_cut_with_a_note() -> None:
    data = b"word " * (MAX_TEXT_BYTES // 5 + 1000)
    kept, note = parse_bytes("big.txt", data).rsplit("\n", 1)
    assert len(kept.encode()) <= MAX_TEXT_BYTES
    cut = len(data) - MAX_TEXT_BYTES
    assert note == f"[big.txt: {cut} more bytes not read; the first {MAX_TEXT_BYTES} are above]"


@pytest.mark.slow
def test_a_200_mb_text_file_stays_within_the_memory_budget(tmp_path: Path) -> None:
    growth, outcome = measure(tmp_path, "huge.txt", b"lorem ipsum dolor sit amet\n" * 7_800_000)
    assert outcome.startswith("parsed: lorem ipsum dolor sit amet\n")
    assert growth < RSS_BUDGET_MIB, f"grew {growth:.0f} MiB"
    assert os.path.getsize(tmp_path / "upload.bin") > 200_000_000
