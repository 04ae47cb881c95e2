"""Dashscope (OpenAI-compatible mode) as a file reader: audio, video, images and scanned PDFs.

The reference transcribes audio with VIDEO_MODEL_NAME (default qwen-omni-turbo), which only
streams; images and scanned pages go to a VL model.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from activities.context import ToolContext
from activities.errors import ToolError, from_transport, status_error
from activities.files_kind import IMAGE_MIME, classify, extension
from activities.heartbeat import beat
from graphs.prompts import IMAGE_PROMPT, TRANSCRIBE_PROMPT, VIDEO_PROMPT

AUDIO_MODEL = "qwen-omni-turbo"
VISION_MODEL = "qwen-vl-max"
MAX_INLINE_BYTES = 7 * 1024 * 1024  # base64 grows it by 4/3; Dashscope caps inline data at 10 MB
MAX_PDF_PAGES = 20  # page images sent for one scanned PDF
DASHSCOPE_TIMEOUT = httpx.Timeout(120.0, connect=15.0)


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
            ext = extension(image.name)
            images.append((IMAGE_MIME.get(ext, "image/png"), image.data))
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
    kind, fmt = classify(name, data)
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
        mime = IMAGE_MIME.get(fmt, "image/png")
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


__all__ = ["AUDIO_MODEL", "TRANSCRIBE_PROMPT", "VISION_MODEL", "dashscope_parse"]
