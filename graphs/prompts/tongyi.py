"""The Tongyi DeepResearch agent's texts (source: Alibaba-NLP/DeepResearch `inference/`): the
system prompt with its tool schemas, the extractor prompt, loop messages and tool output formats."""

# The protocol constants below are reproduced verbatim from Alibaba-NLP/DeepResearch
# (https://github.com/Alibaba-NLP/DeepResearch), licensed under the Apache License 2.0,
# at commit f72f75d8c3eb842f2bbbab096a12206ff66e270f, from these files:
#   inference/prompt.py        SYSTEM_PROMPT, EXTRACTOR_PROMPT
#   inference/react_agent.py   loop messages, termination strings, sampling defaults
#   inference/tool_search.py   search result / error formats, Serper payloads
#   inference/tool_scholar.py  scholar result / error formats
#   inference/tool_visit.py    visit result / error formats, extractor call
# See NOTICE. The model was trained on these exact bytes: do not reflow, fix typos
# ("feilds", "rational") or strip whitespace in them. Each value matched the
# reference strings when it was checked programmatically.

from typing import Final

# ---------------------------------------------------------------------------
# inference/prompt.py
# ---------------------------------------------------------------------------

# The caller appends today's date as "%Y-%m-%d" (react_agent.py: SYSTEM_PROMPT + today_date()).
# The tool list is the schema the model was trained on; it differs from the tool classes' own
# `description`/`parameters` (e.g. search/visit descriptions), and the PythonInterpreter
# description contains raw newlines (so that line is not strictly valid JSON).
SYSTEM_PROMPT: Final[str] = """\
You are a deep research assistant. Your core function is to conduct thorough, multi-source investigations into any topic. You must handle both broad, open-domain inquiries and queries within specialized academic fields. For every request, synthesize information from credible, diverse sources to deliver a comprehensive, accurate, and objective response. When you have gathered sufficient information and are ready to provide the definitive response, you must enclose the entire final answer within <answer></answer> tags.

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{"type": "function", "function": {"name": "search", "description": "Perform Google web searches then returns a string of the top search results. Accepts multiple queries.", "parameters": {"type": "object", "properties": {"query": {"type": "array", "items": {"type": "string", "description": "The search query."}, "minItems": 1, "description": "The list of search queries."}}, "required": ["query"]}}}
{"type": "function", "function": {"name": "visit", "description": "Visit webpage(s) and return the summary of the content.", "parameters": {"type": "object", "properties": {"url": {"type": "array", "items": {"type": "string"}, "description": "The URL(s) of the webpage(s) to visit. Can be a single URL or an array of URLs."}, "goal": {"type": "string", "description": "The specific information goal for visiting webpage(s)."}}, "required": ["url", "goal"]}}}
{"type": "function", "function": {"name": "PythonInterpreter", "description": "Executes Python code in a sandboxed environment. To use this tool, you must follow this format:
1. The 'arguments' JSON object must be empty: {}.
2. The Python code to be executed must be placed immediately after the JSON block, enclosed within <code> and </code> tags.

IMPORTANT: Any output you want to see MUST be printed to standard output using the print() function.

Example of a correct call:
<tool_call>
{"name": "PythonInterpreter", "arguments": {}}
<code>
import numpy as np
# Your code here
print(f"The result is: {np.mean([1,2,3])}")
</code>
</tool_call>", "parameters": {"type": "object", "properties": {}, "required": []}}}
{"type": "function", "function": {"name": "google_scholar", "description": "Leverage Google Scholar to retrieve relevant information from academic publications. Accepts multiple queries. This tool will also return results from google search", "parameters": {"type": "object", "properties": {"query": {"type": "array", "items": {"type": "string", "description": "The search query."}, "minItems": 1, "description": "The list of search queries for Google Scholar."}}, "required": ["query"]}}}
{"type": "function", "function": {"name": "parse_file", "description": "This is a tool that can be used to parse multiple user uploaded local files such as PDF, DOCX, PPTX, TXT, CSV, XLSX, DOC, ZIP, MP4, MP3.", "parameters": {"type": "object", "properties": {"files": {"type": "array", "items": {"type": "string"}, "description": "The file name of the user uploaded local files to be parsed."}}, "required": ["files"]}}}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>

Current date: """  # noqa: E501

# Formatted with str.format(webpage_content=..., goal=...) and sent as the single user message
# of the extractor call. Quirks kept: the "## **Webpage Content** " heading ends with a
# trailing space (written as \x20 below so editors cannot strip it), the key is "rational"
# (not "rationale"), the typo "feilds", and the text ends with a newline.
EXTRACTOR_PROMPT: Final[str] = """\
Please process the following webpage content and user goal to extract relevant information:

## **Webpage Content**\x20
{webpage_content}

## **User Goal**
{goal}

## **Task Guidelines**
1. **Content Scanning for Rationale**: Locate the **specific sections/data** directly related to the user's goal within the webpage content
2. **Key Extraction for Evidence**: Identify and extract the **most relevant information** from the content, you never miss any important information, output the **full original context** of the content as far as possible, it can be more than three paragraphs.
3. **Summary Output for Summary**: Organize into a concise paragraph with logical flow, prioritizing clarity and judge the contribution of the information to the goal.

**Final Output Format using JSON format has "rational", "evidence", "summary" feilds**
"""  # noqa: E501

# ---------------------------------------------------------------------------
# inference/react_agent.py: the ReAct loop
# ---------------------------------------------------------------------------

# A tool result goes back as a *user* message:
# TOOL_RESPONSE_PREFIX + result + TOOL_RESPONSE_SUFFIX.
# The assistant text is cut at the first "<tool_response>" and .strip()ped before it is stored.
TOOL_RESPONSE_PREFIX: Final[str] = "<tool_response>\n"
TOOL_RESPONSE_SUFFIX: Final[str] = "\n</tool_response>"

# call_server(): OpenAI-compatible chat.completions against the local vLLM server,
# logprobs=True, client timeout 600 s, max_tries=10, backoff min(2**attempt + U(0, 1), 30) s;
# an empty or whitespace-only reply counts as a failed try; the reply is .strip()ped.
# Sampling: temperature 0.6 (call_server's default; the run scripts pass --temperature
# $TEMPERATURE, which .env.example sets to 0.85), top_p 0.95, presence_penalty 1.1 and a
# hard-coded max_tokens of 10000: the defaults of graphs.state.Sampling. After all 10 tries
# fail, call_server() returns "vllm server error!!!", which the loop treats as an ordinary
# reply (we let Temporal retry the call instead).
STOP_SEQUENCES: Final[tuple[str, ...]] = ("\n<tool_response>", "<tool_response>")

# Loop limits (react_agent.py):
#   MAX_LLM_CALL_PER_RUN = int(os.getenv('MAX_LLM_CALL_PER_RUN', 100))  -> default 100 calls
#   max context: 110 * 1024 = 112640 tokens, counted with the model tokenizer over
#     apply_chat_template(messages) after every round
#   wall clock: 150 * 60 s (150 minutes), checked at the top of each round

# Routing quirk: if "python" occurs anywhere in the lowercased tool-call text, the call goes to
# PythonInterpreter with the code between <code> and </code>; failing that extraction yields
# PYTHON_FORMAT_ERROR. Otherwise the text is parsed with json5; any exception there *or inside
# the tool* yields INVALID_TOOL_CALL_JSON.
PYTHON_FORMAT_ERROR: Final[str] = "[Python Interpreter Error]: Formatting error."
INVALID_TOOL_CALL_JSON: Final[str] = (
    'Error: Tool call is not a valid JSON. Tool call must contain a valid "name" and '
    '"arguments" field.'
)
# custom_call_tool(): f"Error: Tool {tool_name} not found"; use .format(name=...).
TOOL_NOT_FOUND: Final[str] = "Error: Tool {name} not found"

# When the last LLM call is used up without an answer, the reference *overwrites* the content
# of the last message (messages[-1], the tool response, or the assistant turn when there was no
# tool call) with this text; the loop then exits without another LLM call.
LLM_CALL_LIMIT_MESSAGE: Final[str] = "Sorry, the number of llm calls exceeds the limit."

# When the token count exceeds 110 * 1024, the reference *overwrites* the content of the last
# message with this text (no space after "format:"), makes one more LLM call and ends.
FORCED_ANSWER_PROMPT: Final[str] = (
    "You have now reached the maximum context length you can handle. You should stop making "
    "tool calls and, based on all the information above, think again and provide what you "
    "consider the most likely answer in the following format:<think>your final thinking</think>"
    "\n<answer>your answer</answer>"
)

# Results: "prediction" is the text between <answer> and </answer> (not stripped), or:
NO_ANSWER_FOUND: Final[str] = "No answer found."
# "termination" values, exact spellings:
TERMINATION_ANSWER: Final[str] = "answer"
TERMINATION_TOKEN_LIMIT: Final[str] = "generate an answer as token limit reached"
# Prediction is then the whole forced reply.
TERMINATION_TOKEN_LIMIT_FORMAT_ERROR: Final[str] = (
    "format error: generate an answer as token limit reached"
)
TERMINATION_LLM_LIMIT: Final[str] = "exceed available llm calls"
TERMINATION_NOT_FOUND: Final[str] = "answer not found"
# After 150 minutes: used as both the prediction and the termination.
TERMINATION_TIME_LIMIT: Final[str] = "No answer found after 2h30mins"

# Multiple queries / URLs in one call: the per-item outputs are joined with this.
OBSERVATION_SEPARATOR: Final[str] = "\n=======\n"

# ---------------------------------------------------------------------------
# inference/tool_search.py: tool "search" (Serper POST https://google.serper.dev/search)
# ---------------------------------------------------------------------------

SEARCH_INVALID_REQUEST: Final[str] = (
    "[Search] Invalid request format: Input must be a JSON object containing 'query' field"
)

# A query is Chinese when any character c satisfies "\u4e00" <= c <= "\u9fff"
# (CJK Unified Ideographs); the payload is then {"q": query, **SERPER_PAYLOAD_ZH},
# otherwise {"q": query, **SERPER_PAYLOAD_EN}. No "num": Serper's default of 10 results.
CJK_RANGE: Final[tuple[str, str]] = ("\u4e00", "\u9fff")
SERPER_PAYLOAD_EN: Final[dict[str, str]] = {"location": "United States", "gl": "us", "hl": "en"}
SERPER_PAYLOAD_ZH: Final[dict[str, str]] = {"location": "China", "gl": "cn", "hl": "zh-cn"}

# Up to 5 connection tries; after the 5th failure:
SEARCH_TIMEOUT: Final[str] = "Google search Timeout, return None, Please try again later."
# Header + RESULTS_JOINER.join(items). count is the number of items (may be 0 when "organic" is
# present but empty). .format(query=..., count=...).
SEARCH_RESULTS_HEADER: Final[str] = (
    "A Google search for '{query}' found {count} results:\n\n## Web Results\n"
)
# Each item (idx from 1); the optional parts are "" when the field is absent.
SEARCH_RESULT_ITEM: Final[str] = "{idx}. [{title}]({link}){date_published}{source}\n{snippet}"
SEARCH_DATE_PUBLISHED: Final[str] = "\nDate published: {date}"
SEARCH_SOURCE: Final[str] = "\nSource: {source}"
# Shared by search and scholar items: snippet part (so a present snippet follows a blank line).
RESULT_SNIPPET: Final[str] = "\n{snippet}"
RESULTS_JOINER: Final[str] = "\n\n"
# Removed (replaced by "") from every formatted item, search and scholar.
VIDEO_PLACEHOLDER: Final[str] = "Your browser can't play this video."
# Returned when the response has no "organic" key (or formatting raises).
SEARCH_NO_RESULTS: Final[str] = "No results found for '{query}'. Try with a more general query."

# ---------------------------------------------------------------------------
# inference/tool_scholar.py: tool "google_scholar" (Serper POST https://google.serper.dev/scholar,
# payload {"q": query} only; multiple queries run with 3 worker threads, order kept)
# ---------------------------------------------------------------------------

SCHOLAR_INVALID_REQUEST: Final[str] = (
    "[google_scholar] Invalid request format: Input must be a JSON object containing 'query' field"
)
SCHOLAR_TIMEOUT: Final[str] = "Google Scholar Timeout, return None, Please try again later."
SCHOLAR_RESULTS_HEADER: Final[str] = (
    "A Google scholar for '{query}' found {count} results:\n\n## Scholar Results\n"
)
SCHOLAR_RESULT_ITEM: Final[str] = (
    "{idx}. [{title}]({link_info}){publication_info}{date_published}{cited_by}\n{snippet}"
)
SCHOLAR_NO_LINK: Final[str] = "no available link"  # link_info without "pdfUrl"
SCHOLAR_PDF_LINK: Final[str] = "pdfUrl: {pdf_url}"
SCHOLAR_PUBLICATION_INFO: Final[str] = "\npublicationInfo: {publication_info}"
SCHOLAR_DATE_PUBLISHED: Final[str] = "\nDate published: {year}"  # str(page["year"])
SCHOLAR_CITED_BY: Final[str] = "\ncitedBy: {cited_by}"  # str(page["citedBy"])
# Same text as the search tool's.
SCHOLAR_NO_RESULTS: Final[str] = "No results found for '{query}'. Try with a more general query."

# ---------------------------------------------------------------------------
# inference/tool_visit.py: tool "visit" (Jina Reader GET https://r.jina.ai/{url})
# ---------------------------------------------------------------------------

VISIT_INVALID_REQUEST: Final[str] = (
    "[Visit] Invalid request format: Input must be a JSON object containing 'url' and 'goal' fields"
)

# Page reading: 8 rounds x 3 Jina tries (timeout 50 s, 0.5 s sleep after a failure). Content
# that starts with VISIT_READ_FAILED or "[document_parser]", or equals "[visit] Empty content.",
# counts as no content (we count any text starting with "[visit" or blank).
VISIT_READ_FAILED: Final[str] = "[visit] Failed to read page."

# Extraction: the page is cut to 95000 tokens (tiktoken cl100k_base) and sent in EXTRACTOR_PROMPT
# to SUMMARY_MODEL_NAME with only temperature set; VISIT_SERVER_MAX_RETRIES (default 1) tries per
# call; a reply that is not JSON is cut to its first "{" .. last "}". While the reply is shorter
# than 10 chars: 3 retries on content cut to int(0.7 * len(content)) chars, then a 4th on the
# first 25000 chars. Then ```json / ``` fences are removed and json.loads is tried; on failure the
# extractor is called again, at most 3 times (the 3rd reply is never parsed; we parse it, see
# docs/architecture.md), then the failure texts below are used.
EXTRACTOR_TEMPERATURE: Final[float] = 0.7

# .format(url=..., goal=..., evidence=str(raw["evidence"]), summary=str(raw["summary"])).
# Note the spaces before "\n" after "as follows:", "Evidence in page:" and "Summary:".
# The tool returns the whole observation .strip()ped, so the final "\n\n" of the last (or only)
# page does not reach the model.
VISIT_RESULT: Final[str] = (
    "The useful information in {url} for user goal {goal} as follows: \n\n"
    "Evidence in page: \n"
    "{evidence}"
    "\n\n"
    "Summary: \n"
    "{summary}"
    "\n\n"
)
# Used as evidence / summary in VISIT_RESULT when the page could not be read, when the extractor
# reply could not be parsed, and for every URL left when a multi-URL call passes 900 s (in that
# case the reference formats {url} with the whole URL list, not the single URL). The 900 s budget
# applies only to a list of URLs, visited one after another; a single URL string has none.
VISIT_FAILED_EVIDENCE: Final[str] = (
    "The provided webpage content could not be accessed. Please check the URL or file format."
)
VISIT_FAILED_SUMMARY: Final[str] = (
    "The webpage content could not be processed, and therefore, no information is available."
)
# Multi-URL calls only: an exception while visiting one URL gives f"Error fetching {u}: {e}"
# (ours gives the failure texts above, or the error when it can never succeed).


# -- PythonInterpreter ----------------------------------------------------------------------
# The output and error texts below are reproduced verbatim from Alibaba-NLP/DeepResearch
# (https://github.com/Alibaba-NLP/DeepResearch, Apache License 2.0), inference/tool_python.py
# at commit f72f75d8c3eb842f2bbbab096a12206ff66e270f (PythonInterpreter.call); see NOTICE.
# The model was trained on these bytes: keep them exactly ("PythonInterpreter Error" in the
# run timeout, "Python Interpreter Error" in the others, as upstream has them).
PYTHON_STDOUT: Final[str] = "stdout:\n{stdout}"
PYTHON_STDERR: Final[str] = "stderr:\n{stderr}"
PYTHON_RUN_TIMEOUT: Final[str] = "[PythonInterpreter Error] TimeoutError: Execution timed out."
PYTHON_FINISHED: Final[str] = "Finished execution."
PYTHON_ENDPOINT_TIMEOUT: Final[str] = (
    "[Python Interpreter Error] TimeoutError: Execution timed out on endpoint {endpoint}."
)
# Upstream's text for any other client error; here such errors are classified instead (a 4xx
# answers "[PythonInterpreter] failed: ..." through tool_outcome). Kept for reference.
PYTHON_ENDPOINT_ERROR: Final[str] = "[Python Interpreter Error]: {error} on endpoint {endpoint}"
PYTHON_ALL_FAILED: Final[str] = "[Python Interpreter Error]: All attempts failed."


# -- parse_file's audio transcription (inference/file_tools/) ------------------------------
TRANSCRIBE_PROMPT: Final[str] = "Completely transcribe this audio content with all details"


# -- inference/run_multi_react.py ----------------------------------------------------------------
FAILED_PREDICTION: Final[str] = "[Failed]"  # the prediction of a rollout that crashed
