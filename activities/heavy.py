"""Heavy mode's synthesis, as ParallelMuse aggregates parallel rollouts: each branch's trajectory
is condensed into a report, then an integrator reads every report and gives the final answer."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel
from temporalio import activity

from activities.context import current
from activities.llm import chat
from graphs.prompts import (
    CONVERGE_SYSTEM_PROMPT,
    FUSE_PROMPT,
    INTEGRATE_PROMPT,
    REPORT_PROMPT,
)
from graphs.state import Sampling

# The reference's sampling for these calls (temperature 0.6, top_p 0.95, presence 1.1) and its
# token budgets: 32K for a report, 64K for the integration.
REPORT_SAMPLING = Sampling(max_tokens=32 * 1024)
INTEGRATE_SAMPLING = Sampling(max_tokens=64 * 1024)


def interaction_text(record: list[dict[str, Any]]) -> str:
    """A trajectory as text, the way ParallelMuse's construct_interaction_from_record writes it."""
    parts = []
    for message in record:
        role, content = message["role"], str(message.get("content") or "")
        if role == "assistant" and "<tool_call>" in content and "</tool_call>" in content:
            thinking = content.split("<think>")[-1].split("</think>")[0].strip()
            call = content.split("<tool_call>")[-1].split("</tool_call>")[0].strip()
            parts.append(f"**{role}:**\n*Thinking:* {thinking}\n*Tool Call:* {call}\n\n")
        elif role == "user" and "<tool_response>" in content and "</tool_response>" in content:
            response = content.split("<tool_response>")[-1].split("</tool_response>")[0].strip()
            parts.append(f"**Tool Response:**\n{response}\n\n")
        elif role == "assistant":
            thinking = content.split("<think>")[-1].split("</think>")[0].strip()
            answer = content.split("</think>")[-1].split("<answer>")[-1].split("</answer>")[0]
            answer = answer.strip()
            if thinking == answer:
                answer = "[No Prediction]"
            parts.append(f"**{role}:**\n*Thinking:* {thinking}\n*Answer:* {answer}\n\n")
        else:
            parts.append(f"**{role}:**\n{content}\n\n")
    return "".join(parts).strip()


class BranchReportRequest(BaseModel):
    trajectory: list[dict[str, Any]]
    model: str | None = None  # a synthesis fork's model name (None: the endpoint's)


class IntegrateRequest(BaseModel):
    question: str
    reports: list[str]
    synthesis: Literal["select", "fuse"] = "select"
    model: str | None = None  # a synthesis fork's model name (None: the endpoint's)


async def _converge(prompt: str, sampling: Sampling, model: str | None = None) -> str:
    """One aggregation call as ParallelMuse makes it; the reply after any thinking."""
    messages = [
        {"role": "system", "content": CONVERGE_SYSTEM_PROMPT},
        {"role": "user", "content": prompt},
    ]
    endpoint = current().research_model
    if model:  # a synthesis fork asks the same server for another of its models
        endpoint = dataclasses.replace(endpoint, model=model)
    result = await chat(endpoint, messages, sampling)
    return result.text.split("</think>")[-1].strip()


@activity.defn(name="heavy.report")
async def branch_report(request: BranchReportRequest) -> str:
    """One branch's trajectory condensed into a report (planning, methods, final reasoning)."""
    prompt = REPORT_PROMPT.format(traj=interaction_text(request.trajectory))
    text = await _converge(prompt, REPORT_SAMPLING, request.model)
    return text.split("<report>")[-1].split("</report>")[0].strip()


@activity.defn(name="heavy.integrate")
async def integrate(request: IntegrateRequest) -> str:
    """The final answer from every branch's report: select one (the reference) or fuse them."""
    template = INTEGRATE_PROMPT if request.synthesis == "select" else FUSE_PROMPT
    prompt = template.format(question=request.question)
    for number, report in enumerate(request.reports, start=1):
        prompt += f"\n\n[Report {number}]: {report}"
    text = await _converge(prompt, INTEGRATE_SAMPLING, request.model)
    return text.split("<answer>")[-1].split("</answer>")[0].strip()
