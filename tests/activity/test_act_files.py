"""parse_file: real documents parsed locally, archives guarded, the reference's token budget and
formatting, Dashscope for audio and scanned pages, and the graph node's state update."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities import files_dashscope as files_module
from activities.context import ToolContext
from activities.errors import ToolError
from activities.files import (
    AUDIO_MODEL,
    DEFAULT_MAX_INPUT_TOKENS,
    MAX_UNPACKED_BYTES,
    MAX_ZIP_MEMBERS,
    TRANSCRIBE_PROMPT,
    VISION_MODEL,
    NeedsModel,
    dashscope_parse,
    parse_bytes,
    parse_file,
    parse_files,
)
from tests.fakes.dashscope import DEFAULT_TRANSCRIPT, FakeDashscope

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8


# -- documents built in the test -----------------------------------------------------------


def _pdf(objects: list[bytes]) -> bytes:
    """A valid PDF from object bodies (object 1 is the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _stream(data: bytes, entries: str = "") -> bytes:
    return f"<< {entries} /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"


def text_pdf(pages: list[str]) -> bytes:
    """Helvetica text, one line per page: objects 1 catalog, 2 pages, 3 font, then page+content."""
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(_stream(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()))
    return _pdf(objects)


def jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def scanned_pdf(image: bytes) -> bytes:
    """One page that only paints a JPEG: no text to extract, as a scan."""
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>",
            _stream(b"q 612 0 0 792 0 0 cm /Im1 Do Q"),
            _stream(
                image,
                "/Type /XObject /Subtype /Image /Width 16 /Height 16 /ColorSpace /DeviceRGB "
                "/BitsPerComponent 8 /Filter /DCTDecode",
            ),
        ]
    )


def docx_bytes() -> bytes:
    from docx import Document

    document = Document()
    document.add_heading("Quarterly Report", level=1)
    document.add_paragraph("Revenue grew by twelve percent.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Region", "Sales"
    table.cell(1, 0).text, table.cell(1, 1).text = "North", "42"
    document.add_paragraph("Closing remarks after the table.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def pptx_bytes() -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    presentation = Presentation()
    first = presentation.slides.add_slide(presentation.slide_layouts[1])
    first.shapes.title.text = "Launch Plan"
    first.placeholders[1].text = "Ship the rover in May"
    first.notes_slide.notes_text_frame.text = "Mention the budget"
    second = presentation.slides.add_slide(presentation.slide_layouts[5])
    second.shapes.title.text = "Milestones"
    shape = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1))
    shape.table.cell(0, 0).text, shape.table.cell(0, 1).text = "Step", "Date"
    shape.table.cell(1, 0).text, shape.table.cell(1, 1).text = "Test", "April"
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Data"
    sheet.append(["name", "value"])
    sheet.append(["alpha", 1])
    sheet.append(["beta", 2.5])
    other = workbook.create_sheet("Notes")
    other.append(["remark"])
    other.append(["checked | ok"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


HTML = b"""<!doctype html><html><head><title>Field notes</title>
<style>body { color: red; }</style><script>var secret = 'do not show';</script></head>
<body><h1>Field notes</h1><p>The river was high on Tuesday.</p></body></html>"""


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def dashscope() -> Iterator[FakeDashscope]:
    with FakeDashscope() as fake:
        yield fake


@pytest.fixture
def ctx(tools: ToolContext, dashscope: FakeDashscope) -> ToolContext:
    return replace(tools, dashscope_url=dashscope.base_url, dashscope_key=dashscope.api_key)


def upload(ctx: ToolContext, **named: bytes) -> dict[str, str]:
    """Blob digests by file name; keyword names use `__` for the dot (report__pdf)."""
    return {name.replace("__", "."): ctx.blobs.put(data) for name, data in named.items()}


# -- local parsing -------------------------------------------------------------------------


def test_pdf_pages_are_extracted() -> None:
    text = parse_bytes("paper.pdf", text_pdf(["Hello PDF world", "Second page here"]))
    assert "Hello PDF world" in text
    assert "Second page here" in text
    assert text.index("Hello") < text.index("Second")


def test_pdf_is_recognised_by_content_without_extension() -> None:
    assert "Hello PDF world" in parse_bytes("download", text_pdf(["Hello PDF world"]))


def test_scanned_pdf_needs_a_model() -> None:
    with pytest.raises(NeedsModel, match="no extractable text"):
        parse_bytes("scan.pdf", scanned_pdf(jpeg()))


def test_docx_paragraphs_and_tables_in_order() -> None:
    text = parse_bytes("report.docx", docx_bytes())
    assert "# Quarterly Report" in text
    assert "Revenue grew by twelve percent." in text
    assert "| Region | Sales |\n|---|---|\n| North | 42 |" in text
    assert text.index("Revenue") < text.index("| Region") < text.index("Closing remarks")


def test_pptx_slide_texts_tables_and_notes() -> None:
    text = parse_bytes("deck.pptx", pptx_bytes())
    assert text.startswith("## Slide 1\nLaunch Plan\nShip the rover in May\nNotes: Mention")
    assert "## Slide 2\nMilestones\n| Step | Date |\n|---|---|\n| Test | April |" in text


def test_xlsx_sheets_as_tables() -> None:
    text = parse_bytes("book.xlsx", xlsx_bytes())
    assert text == (
        "## Sheet: Data\n| name | value |\n|---|---|\n| alpha | 1 |\n| beta | 2.5 |\n\n"
        "## Sheet: Notes\n| remark |\n|---|\n| checked \\| ok |"
    )


def test_csv_and_tsv_as_tables() -> None:
    csv_text = parse_bytes("t.csv", b'city,note\nParis,"big, old"\n\nRome,eternal\n')
    assert csv_text == "| city | note |\n|---|---|\n| Paris | big, old |\n| Rome | eternal |"
    tsv_text = parse_bytes("t.tsv", b"a\tb\n1\t2\n")
    assert tsv_text == "| a | b |\n|---|---|\n| 1 | 2 |"


def test_text_markdown_and_json() -> None:
    assert parse_bytes("n.txt", "\ufeffcaf\u00e9\r\nline two\r\n".encode()) == "caf\u00e9\nline two"
    assert parse_bytes("r.md", b"# Title\n\n\n\n\nbody") == "# Title\n\nbody"
    assert json.loads(parse_bytes("d.json", b'{"k": [1, 2]}')) == {"k": [1, 2]}
    french = "Le café était déjà fermé quand nous sommes arrivés. " * 5
    assert parse_bytes("old.txt", french.encode("cp1252")) == french.strip()  # not UTF-8
    chinese = "这是一个测试文件，内容是中文。" * 4
    assert parse_bytes("cn.txt", chinese.encode("gbk")) == chinese


def test_html_keeps_the_text_and_drops_scripts() -> None:
    text = parse_bytes("page.html", HTML)
    assert "The river was high on Tuesday." in text
    assert "do not show" not in text
    assert "color: red" not in text


def test_zip_members_are_parsed_under_their_names() -> None:
    archive = zip_bytes(
        {
            "docs/notes.txt": b"plain notes",
            "docs/table.csv": b"x,y\n1,2\n",
            "report.docx": docx_bytes(),
            "inner.zip": zip_bytes({"deep.txt": b"hidden"}),
            "voice.mp3": MP3,
            "broken.pdf": b"%PDF-1.4 truncated",
            "__MACOSX/._notes.txt": b"junk",
        }
    )
    text = parse_bytes("bundle.zip", archive)
    assert "## docs/notes.txt\nplain notes" in text
    assert "## docs/table.csv\n| x | y |\n|---|---|\n| 1 | 2 |" in text
    assert "## report.docx\n# Quarterly Report" in text
    assert "## inner.zip\n[not parsed: nested archives are not unpacked]" in text
    assert "## voice.mp3\n[not parsed: voice.mp3 is audio (mp3)" in text
    assert "## broken.pdf\n[not parsed: could not read broken.pdf as PDF" in text
    assert "hidden" not in text and "__MACOSX" not in text


def test_zip_without_parseable_members_is_an_error() -> None:
    with pytest.raises(ToolError, match="no parseable content found in the ZIP"):
        parse_bytes("media.zip", zip_bytes({"a.mp3": MP3}))


def test_zip_bomb_is_refused() -> None:
    buffer = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("zeros.txt", "w") as member:
            for _ in range(MAX_UNPACKED_BYTES // len(chunk) + 1):
                member.write(chunk)
    assert len(buffer.getvalue()) < 1024 * 1024  # a small upload that inflates past the cap
    with pytest.raises(ToolError, match="zip bomb"):
        parse_bytes("bomb.zip", buffer.getvalue())


def test_office_package_bomb_is_refused() -> None:
    buffer = io.BytesIO(docx_bytes())
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("word/media/huge.bin", "w") as member:
            for _ in range(MAX_UNPACKED_BYTES // len(chunk) + 1):
                member.write(chunk)
    with pytest.raises(ToolError, match="zip bomb"):
        parse_bytes("evil.docx", buffer.getvalue())


def test_zip_with_too_many_members_is_refused() -> None:
    archive = zip_bytes({f"f{i}.txt": b"x" for i in range(MAX_ZIP_MEMBERS + 1)})
    with pytest.raises(ToolError, match=f"at most {MAX_ZIP_MEMBERS}"):
        parse_bytes("many.zip", archive)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00", "unsupported file type of tool.exe"),
        ("memo.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy"),
        ("blob", b"\x00\x01\x02binary", "unsupported file type of blob"),
        ("empty.txt", b"", "empty"),
        ("broken.pdf", b"%PDF-1.4 not really", "could not read broken.pdf as PDF"),
        ("broken.docx", b"PK\x03\x04garbage", "not a readable ZIP package"),
    ],
)
def test_unsupported_and_unreadable_files_raise_tool_errors(
    name: str, data: bytes, message: str
) -> None:
    with pytest.raises(ToolError, match=message) as caught:
        parse_bytes(name, data)
    assert not isinstance(caught.value, NeedsModel)


@pytest.mark.parametrize(
    ("name", "data"),
    [("q.mp3", MP3), ("clip.mp4", b"\x00\x00\x00\x18ftypmp42"), ("fig.png", b"\x89PNG\r\n")],
)
def test_media_needs_a_model(name: str, data: bytes) -> None:
    with pytest.raises(NeedsModel):
        parse_bytes(name, data)


# -- parse_files: the reference's formatting and budget ------------------------------------


async def test_output_format_matches_the_reference(ctx: ToolContext) -> None:
    digests = upload(ctx, a__txt=b"hello world", b__md=b"second file")
    text = await parse_files(ctx, digests)
    # 10 words: "# File: a.txt hello world" and "# File: b.md second file"
    assert text == (
        "File token number: 10\nFile content:\n"
        "# File: a.txt\nhello world\n\n"
        "# File: b.md\nsecond file"
    )


async def test_unreadable_and_missing_files_become_error_lines(ctx: ToolContext) -> None:
    digests = upload(ctx, ok__txt=b"fine", bad__exe=b"MZ\x00\x00")
    digests["gone.txt"] = "sha256:" + "0" * 64
    text = await parse_files(ctx, digests, missing=["nope.pdf"])
    assert text.startswith("File token number: ")
    assert "# File: ok.txt\nfine" in text
    assert "# Error processing bad.exe: unsupported file type of bad.exe" in text
    assert "# Error processing gone.txt: the uploaded file gone.txt is no longer" in text
    assert text.endswith(
        "# Error processing nope.pdf: Document parsing failed: no uploaded file is named 'nope.pdf'"
    )


async def test_budget_cuts_every_file_to_an_equal_share(ctx: ToolContext) -> None:
    big = ("lorem ipsum dolor sit amet " * 8_000).encode()  # 216,000 bytes = 72,000 tokens
    small = b"tiny file"
    digests = upload(ctx, big__txt=big, small__txt=small)
    text = await parse_files(ctx, digests)
    share = DEFAULT_MAX_INPUT_TOKENS // 2  # floor(budget / files), the reference's compress()
    body = text.split("# File: big.txt\n", 1)[1].split("\n\n# File: small.txt\n", 1)[0]
    assert len(body.encode()) == share * 3  # estimate_tokens: 3 bytes a token
    assert big.decode().startswith(body)
    assert text.endswith("\n\n# File: small.txt\ntiny file")
    words = len(text.split("File content:\n", 1)[1].split())
    assert text.startswith(f"File token number: {words}\nFile content:\n")


async def test_under_budget_nothing_is_cut(ctx: ToolContext) -> None:
    big = b"x " * 60_000  # 120,000 bytes: 40,000 tokens
    text = await parse_files(ctx, upload(ctx, big__txt=big))
    assert text.endswith(big.decode().strip())


async def test_a_smaller_budget_applies_the_same_rule(ctx: ToolContext) -> None:
    digests = upload(ctx, a__txt=b"a" * 300, b__txt=b"b" * 30)
    text = await parse_files(ctx, digests, budget=100)
    assert "# File: a.txt\n" + "a" * 150 + "\n\n" in text  # 50 tokens each
    assert text.endswith("# File: b.txt\n" + "b" * 30)


# -- Dashscope ------------------------------------------------------------------------------


async def test_audio_is_transcribed_by_dashscope(
    ctx: ToolContext, dashscope: FakeDashscope
) -> None:
    text = await parse_files(ctx, upload(ctx, question__mp3=MP3, notes__txt=b"see audio"))
    assert f"# File: question.mp3\n{DEFAULT_TRANSCRIPT}" in text
    assert "# File: notes.txt\nsee audio" in text
    (record,) = dashscope.chat_requests()
    assert record.path == "/compatible-mode/v1/chat/completions"
    assert record.headers["authorization"] == "Bearer test-dashscope-key"
    body: dict[str, Any] = record.body
    assert body["model"] == AUDIO_MODEL == "qwen-omni-turbo"
    assert body["stream"] is True
    assert body["modalities"] == ["text"]
    prompt, audio = body["messages"][0]["content"]
    assert prompt == {"type": "text", "text": TRANSCRIBE_PROMPT}
    assert audio["type"] == "input_audio"
    assert audio["input_audio"]["format"] == "mp3"
    header, encoded = audio["input_audio"]["data"].split(",", 1)
    assert header == "data:audio/mp3;base64"
    assert base64.b64decode(encoded) == MP3


async def test_images_and_scanned_pdfs_go_to_the_vision_model(
    ctx: ToolContext, dashscope: FakeDashscope
) -> None:
    image = jpeg()
    text = await parse_files(ctx, upload(ctx, scan__pdf=scanned_pdf(image), photo__jpg=image))
    assert f"# File: scan.pdf\n{DEFAULT_TRANSCRIPT}" in text
    assert f"# File: photo.jpg\n{DEFAULT_TRANSCRIPT}" in text
    scan, photo = dashscope.chat_requests()
    for record in (scan, photo):
        assert record.body["model"] == VISION_MODEL
        assert record.meta["parts"] == ["image_url", "text"]
    url = scan.body["messages"][0]["content"][0]["image_url"]["url"]
    assert url == "data:image/jpeg;base64," + base64.b64encode(image).decode()


async def test_without_a_key_the_message_names_the_variable(
    ctx: ToolContext, dashscope: FakeDashscope
) -> None:
    keyless = replace(ctx, dashscope_key=None)
    text = await parse_files(keyless, upload(keyless, question__mp3=MP3))
    assert "# Error processing question.mp3: question.mp3 is audio (mp3)" in text
    assert "set DASHSCOPE_API_KEY" in text
    with pytest.raises(ToolError, match="DASHSCOPE_API_KEY is not set"):
        await dashscope_parse(keyless, "question.mp3", MP3)
    assert dashscope.records() == []


async def test_a_rejected_key_is_a_file_error(ctx: ToolContext, dashscope: FakeDashscope) -> None:
    wrong = replace(ctx, dashscope_key="wrong")
    text = await parse_files(wrong, upload(wrong, question__mp3=MP3))
    assert "# Error processing question.mp3: Dashscope answered HTTP 401" in text
    assert [r.status for r in dashscope.records()] == [401]


async def test_a_retryable_dashscope_failure_propagates(
    ctx: ToolContext, dashscope: FakeDashscope
) -> None:
    dashscope.fail_next(1, 503, retry_after=2)
    with pytest.raises(ApplicationError) as caught:
        await parse_files(ctx, upload(ctx, question__mp3=MP3))
    assert not caught.value.non_retryable
    assert caught.value.next_retry_delay is not None
    assert caught.value.next_retry_delay.total_seconds() == 2


async def test_oversized_media_is_refused_before_sending(
    ctx: ToolContext, dashscope: FakeDashscope, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files_module, "MAX_INLINE_BYTES", 100)
    with pytest.raises(ToolError, match="too large to send to Dashscope"):
        await dashscope_parse(ctx, "question.mp3", MP3)
    assert dashscope.records() == []


# -- the graph node --------------------------------------------------------------------------


async def test_node_answers_with_one_observation(
    ctx: ToolContext, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(ctx)
    task = {
        "call_id": "call-7",
        "index": 1,
        "files": upload(ctx, report__docx=docx_bytes()),
        "missing": ["appendix.pdf"],
    }
    update = await parse_file(task)
    assert set(update) == {"observations", "clock"}
    assert isinstance(update["clock"], float)
    (observation,) = update["observations"]
    assert observation["call_id"] == "call-7" and observation["index"] == 1
    text = observation["text"]
    assert text.startswith("File token number: ")
    assert "# File: report.docx\n# Quarterly Report" in text
    assert "# Error processing appendix.pdf: Document parsing failed: no uploaded file" in text


async def test_node_falls_back_when_dashscope_keeps_failing(
    ctx: ToolContext, dashscope: FakeDashscope, install: Callable[[ToolContext], ToolContext]
) -> None:
    install(ctx)
    dashscope.fail_next(1, 503)
    task = {"call_id": "c", "index": 0, "files": upload(ctx, q__mp3=MP3), "missing": []}
    update = await parse_file(task)  # outside an activity every attempt is the last one
    (observation,) = update["observations"]
    assert observation["text"] == (
        "File token number: 13\nFile content:\n"
        "# Error processing q.mp3: Document parsing failed: the file service did not answer"
    )
