"""Our own texts (source: this project, not the reference): operator controls, the openai
dialect's system prompt, the report writer, the research plan (`--plan`), the iterative
strategy's workspace and Heavy mode's "fuse" synthesis. Worded after the reference's where the
Tongyi model reads them."""

from typing import Final

# Sent after the turn's tool responses when an operator cancels; worded like the reference's
# forced-answer prompt so the model answers in the format it was trained on.
CANCEL_PROMPT: Final[str] = (
    "The operator has stopped this research. You should stop making tool calls and, based on all "
    "the information above, think again and provide what you consider the most likely answer in "
    "the following format:<think>your final thinking</think>\n<answer>your answer</answer>"
)
CANCELLED_TOOL: Final[str] = "[cancelled] The operator stopped the research before this tool ran."
STEER_NOTE: Final[str] = "Note from the operator: {note}"
TERMINATION_CANCELLED: Final[str] = "cancelled"
# A session whose budget ran out (`budget`); the tool tasks past it are answered with this.
TERMINATION_BUDGET: Final[str] = "budget"
BUDGET_SKIPPED: Final[str] = (
    "[{name}] Skipped {value!r}: the session's budget of {bound} {what} is spent."
)
PARSE_FILE_INVALID_REQUEST: Final[str] = (
    "[parse_file] Invalid request format: Input must be a JSON object containing 'files' field"
)

# The `openai` dialect's system prompt (ours; the Tongyi model itself uses SYSTEM_PROMPT).
OPENAI_SYSTEM_PROMPT: Final[str] = (
    "You are a deep research assistant. Investigate the user's question thoroughly with the "
    "tools: search the web, read the most relevant pages, cross-check facts across credible "
    "sources, and run code or parse uploaded files when that helps. Call several tools at once "
    "when their results do not depend on each other. When you have gathered enough evidence, "
    "reply without tool calls: give the final answer concisely, with the URLs it rests on.\n\n"
    "Current date: "
)

# `ask --report`: the long-form report, written only from what the session read (ours).
REPORT_WRITER_PROMPT: Final[str] = """\
Write a research report that answers the question below, using only the numbered sources, which are the pages read during the research, and the research's final answer.

## Question
{question}

## Final answer of the research
{answer}

## Sources
{sources}

## Instructions
- Write the report in the language of the question.
- Use Markdown: a title, a short summary, then sections.
- Support every factual claim with inline numbered citations like [1] or [2, 3] that refer to the sources above; cite nothing else and add no source list of your own.
- Where the sources disagree or are silent, say so rather than guessing."""  # noqa: E501

# `ask --plan`: the planning call before any search (ours). The model answers in tags that
# graphs/plan.py reads; a reply without them is taken whole as the plan.
PLANNER_PROMPT: Final[str] = """\
Before any search is made, write a short plan for researching the question below.

## Question
{question}

## Instructions
- Inside <plan></plan>: three to six numbered sub-questions to answer, for each what to look for, and the kinds of sources to prefer (official documents, papers, news, data).
- Only if the question is ambiguous (it could mean different things, or it lacks a scope, period or place that would change the answer): up to three short clarifying questions for the user inside <questions></questions>, one per line. Leave the tag out when the question is clear.
- Write in the language of the question."""  # noqa: E501
# What an approved plan adds to the session's first user message, after the question: the
# plan's header (by how it was decided), the plan, then the questions with the user's answers.
PLAN_APPROVED: Final[str] = "Research plan (approved by the user):"
PLAN_EDITED: Final[str] = "Research plan (edited by the user):"
PLAN_UNREVIEWED: Final[str] = "Research plan (drafted before the research; not reviewed):"
PLAN_ANSWERS: Final[str] = "Clarifying questions and the user's answers:"
PLAN_QUESTION: Final[str] = "Q: {question}\nA: {answer}"
PLAN_NO_ANSWER: Final[str] = "(not answered)"
# A session whose plan the user rejected ends with this termination, before any research.
TERMINATION_REJECTED: Final[str] = "rejected"

# Heavy mode's iterative-workspace branch strategy (IterResearch, arXiv 2509.13309). Its paper
# describes the round (think, report, action over a workspace rebuilt from the question, the
# report and the last action with its result) but its prompts were never released: ours.
ITERATIVE_ROUND_PROMPT: Final[str] = """\
{question}

This research runs in rounds. Between rounds only the question, your report and your last action with its result are kept; your thinking and everything older is dropped, so the report is your only memory.

<report>
{report}
</report>

{last}

Round {round}: think about what the report and the latest result tell you, then write the complete updated report inside <report></report>: it replaces the previous one, so carry forward every finding still needed, with the URLs it came from, and what remains to check. Then either make one tool call inside <tool_call></tool_call> or, when the evidence suffices, give the final answer inside <answer></answer>."""  # noqa: E501
ITERATIVE_FIRST_ROUND: Final[str] = "This is the first round: nothing has been done yet."
ITERATIVE_EMPTY_REPORT: Final[str] = "(empty)"
ITERATIVE_FUSION_NOTE: Final[str] = (
    "The research ran in rounds; only its last rounds follow. Its final report, which carries "
    "the findings of every round:\n{report}"
)

# Ours: the "fuse" synthesis, for questions whose answer may combine findings of several teams.
FUSE_PROMPT: Final[str] = """You are tasked with answering the question: {question}.

Multiple independent teams have provided detailed process reports describing how they researched it. As the final analyst, examine the methods and the key information in each report, weigh which findings are well supported (agreement between independent reports raises confidence; reports without a clear final answer deserve less), and combine the trustworthy findings into one complete, accurate answer. Do not use external tools; rely only on the reports.

Wrap your final answer in <answer> </answer> tags.

Below is the content of these reports:"""  # noqa: E501


# -- the local Python sandbox's own errors --------------------------------------------------
PYTHON_NOT_ISOLATED: Final[str] = (
    "the local Python sandbox cannot be isolated on this worker ({reason}); configure a "
    "SandboxFusion service (SANDBOX_FUSION_URL) or set DEEPRESEARCH_PYTHON_ALLOW_NETWORK=1 to "
    "run code without isolation (network, files and processes of the worker open to it)"
)
PYTHON_KILLED: Final[str] = "[Python Interpreter Error] The process was killed by {signal}."
PYTHON_MEMORY_HINT: Final[str] = (
    "[Python Interpreter Error] The sandbox allows {limit} MiB of memory."
)
PYTHON_MEMORY_SPLIT_HINT: Final[str] = (
    "[Python Interpreter Error] At most {processes} processes of {each} MiB each. "
    "The sandbox allows {limit} MiB of memory."
)


# -- parse_file's video and scanned-page prompts (Dashscope) ------------------------------
VIDEO_PROMPT: Final[str] = (
    "Completely transcribe the speech in this video and describe what is shown, "
    "including any visible text, with all details."
)
IMAGE_PROMPT: Final[str] = (
    "Transcribe all text in this document image exactly, keeping its reading order, tables "
    "(as markdown) and headings; then briefly describe any figures."
)
