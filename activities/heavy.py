"""Heavy mode's synthesis, as ParallelMuse aggregates parallel rollouts: each branch's trajectory
is condensed into a report, then an integrator reads every report and gives the final answer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from temporalio import activity

from activities.context import current
from activities.llm import chat
from graphs.state import Sampling

# Prompts reproduced verbatim from Alibaba-NLP/DeepResearch (Apache-2.0), commit f72f75d8,
# WebAgent/ParallelMuse/compressed_reasoning_aggregation.py (values after its .strip()).
CONVERGE_SYSTEM_PROMPT = (
    "Follow the user's instructions and present your answer in the format they request."
)

REPORT_PROMPT = """Given the following problem-solving trajectory:
{traj}

Your task is to distill this trajectory into a concise yet sufficiently detailed problem-solving report.\x20
You must only use the information contained within the provided trajectory — no additional or external information is allowed.

The report must include:

1. **Solution Planning**: Identify how the main problem is decomposed into subproblems, and describe the sequence and dependency relationships among those subproblems.
2. **Solution Methods**: For each subproblem, indicate which tools were invoked to solve it, the parameters used in those tool calls, and any resulting partial answers that contributed directly or indirectly to progress toward the final answer. \x20
   _Do not repeat the full output of the tools; only include the specific fragments of tool results that were essential in deriving the subanswers._
3. **Final Reasoning**: Clearly outline the reasoning process by which the subproblems and their associated subanswers led to the derivation of the final answer.

Additional requirements:
- The report must remain **concise** and **focused**. \x20
- Remove any content unrelated to problem-solving or any ineffective tool calls. \x20
- Ensure the final report has clear logical structure, with each step traceable and analyzable.

Finally, present the complete report in **Markdown format**, and wrap the entire report content within <report> </report> tags."""  # noqa: E501

INTEGRATE_PROMPT = """You are tasked with solving the question: {question}.

Multiple independent teams have provided detailed process reports describing their approaches to solving this problem. As the final analyst, your role is to consolidate these reports, carefully examine the problem-solving methods they contain, and identify the key information obtained in each.

Your goal is to produce a final answer that perfectly resolves the question. Note that some of the reports may contain inconsistencies — you must critically evaluate which report(s) are reasonable and trustworthy.

If multiple reports reach the same conclusion, this increases the likelihood that the conclusion is correct; however, this is not guaranteed. You must still carefully verify and reflect to ensure that the final selected answer is truly the most accurate possible.

Wrap your final answer in <answer> </answer> tags.

Important:
- Every question has a definitive, certain answer. \x20
- You are not allowed to decline answering on the grounds of uncertainty.
- For any report that does not provide a clear and definite final answer, its confidence level should be significantly reduced.
- You must ultimately select one report as having the most correct answer.
- You are not allowed to call or use any external tools for verification. You must rely solely on the information already provided, conduct in-depth analysis, and then produce the final answer.
- You are not allowed to merge multiple different answers, nor are you allowed to produce an overly broad answer that attempts to encompass all candidate answers — such an answer should be eliminated first.
- You do not need to restate or summarize the reports; instead, provide a short-form answer that directly answers the question.

Below is the content of these reports:"""  # noqa: E501

# Ours: the "fuse" synthesis, for questions whose answer may combine findings of several teams.
FUSE_PROMPT = """You are tasked with answering the question: {question}.

Multiple independent teams have provided detailed process reports describing how they researched it. As the final analyst, examine the methods and the key information in each report, weigh which findings are well supported (agreement between independent reports raises confidence; reports without a clear final answer deserve less), and combine the trustworthy findings into one complete, accurate answer. Do not use external tools; rely only on the reports.

Wrap your final answer in <answer> </answer> tags.

Below is the content of these reports:"""  # noqa: E501

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


class IntegrateRequest(BaseModel):
    question: str
    reports: list[str]
    synthesis: Literal["select", "fuse"] = "select"


async def _converge(prompt: str, sampling: Sampling) -> str:
    """One aggregation call as ParallelMuse makes it; the reply after any thinking."""
    messages = [
        {"role": "system", "content": CONVERGE_SYSTEM_PROMPT},
        {"role": "user", "content": prompt},
    ]
    result = await chat(current().research_model, messages, sampling)
    return result.text.split("</think>")[-1].strip()


@activity.defn(name="heavy.report")
async def branch_report(request: BranchReportRequest) -> str:
    """One branch's trajectory condensed into a report (planning, methods, final reasoning)."""
    prompt = REPORT_PROMPT.format(traj=interaction_text(request.trajectory))
    text = await _converge(prompt, REPORT_SAMPLING)
    return text.split("<report>")[-1].split("</report>")[0].strip()


@activity.defn(name="heavy.integrate")
async def integrate(request: IntegrateRequest) -> str:
    """The final answer from every branch's report: select one (the reference) or fuse them."""
    template = INTEGRATE_PROMPT if request.synthesis == "select" else FUSE_PROMPT
    prompt = template.format(question=request.question)
    for number, report in enumerate(request.reports, start=1):
        prompt += f"\n\n[Report {number}]: {report}"
    text = await _converge(prompt, INTEGRATE_SAMPLING)
    return text.split("<answer>")[-1].split("</answer>")[0].strip()
