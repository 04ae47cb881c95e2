"""Heavy mode's aggregation prompts (source: Alibaba-NLP/DeepResearch
`WebAgent/ParallelMuse/compressed_reasoning_aggregation.py`): a branch's trajectory condensed
into a report, then every report integrated into one answer."""

from typing import Final

# Reproduced verbatim from Alibaba-NLP/DeepResearch (Apache-2.0), commit
# f72f75d8c3eb842f2bbbab096a12206ff66e270f, values after the reference's .strip(). See NOTICE.
# Trailing spaces are written as \x20 so editors cannot strip them.

CONVERGE_SYSTEM_PROMPT: Final[str] = (
    "Follow the user's instructions and present your answer in the format they request."
)

REPORT_PROMPT: Final[str] = """Given the following problem-solving trajectory:
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

INTEGRATE_PROMPT: Final[str] = """You are tasked with solving the question: {question}.

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
