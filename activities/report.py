"""`ask --report`: a long-form report written from the ledger of pages the session read."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.context import current
from activities.llm import chat
from graphs import prompts
from graphs.citations import ground
from graphs.state import Sampling

WRITER_SAMPLING = Sampling(temperature=0.3, max_tokens=8192)


class ReportRequest(BaseModel):
    question: str
    answer: str
    ledger: list[dict[str, Any]]


class WrittenReport(BaseModel):
    markdown: str
    warnings: list[str]


def sources_block(ledger: list[dict[str, Any]]) -> str:
    return "\n\n".join(
        f"[{n}] {entry['url']}\n{entry.get('evidence', '')}" for n, entry in enumerate(ledger, 1)
    )


@activity.defn(name="report.write")
async def write_report(request: ReportRequest) -> WrittenReport:
    """The model writes; `ground` then keeps only citations of sources that were read."""
    prompt = prompts.REPORT_WRITER_PROMPT.format(
        question=request.question,
        answer=request.answer,
        sources=sources_block(request.ledger) or "(no page was read)",
    )
    result = await chat(
        current().research_model, [{"role": "user", "content": prompt}], WRITER_SAMPLING
    )
    text = result.text.split("</think>")[-1].strip()
    markdown, warnings = ground(text, request.ledger)
    return WrittenReport(markdown=markdown, warnings=warnings)
