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
which text is which file.

Each backend is a module of its own: `files_local` (parsers on the worker, with `files_kind`,
`files_text` and `files_zip` under it) and `files_dashscope` (Dashscope models for what only a
model can read); this module is the tool that chooses between them and renders the observation.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.context import ToolContext, current
from activities.errors import ToolError
from activities.files_dashscope import AUDIO_MODEL, TRANSCRIBE_PROMPT, VISION_MODEL, dashscope_parse
from activities.files_local import NeedsModel, markdown_table, parse_bytes
from activities.files_zip import MAX_UNPACKED_BYTES, MAX_ZIP_MEMBERS
from activities.heartbeat import beat
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
    "AUDIO_MODEL",
    "DEFAULT_MAX_INPUT_TOKENS",
    "MAX_UNPACKED_BYTES",
    "MAX_ZIP_MEMBERS",
    "TRANSCRIBE_PROMPT",
    "VISION_MODEL",
    "NeedsModel",
    "dashscope_parse",
    "markdown_table",
    "parse_bytes",
    "parse_file",
    "parse_files",
]
