"""Rich renderers of the session layer's results: live progress, reports, timelines, lists."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from workers.cli.app import out

if TYPE_CHECKING:  # the session layer loads with the command that needs it
    from workers.client import HeavyLive, SessionRow
    from workers.workflows.heavy import HeavyProgress
    from workers.workflows.models import Progress, ResearchReport

# ESC sequences (CSI, OSC up to BEL/ST, other two-byte ones), then any other control
# character but newline and tab: text a model or a page wrote must not drive the terminal.
_ESCAPES = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])"
    r"|\x9b[0-?]*[ -/]*[@-~]|\x9d[^\x07\x9c]*[\x07\x9c]?"  # their 8-bit forms (C1)
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Untrusted text made safe for a terminal (rich markup is escaped separately)."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def safe(text: str) -> str:
    """Untrusted text for a rich console: control sequences stripped, markup escaped."""
    return escape(clean(text))


STEP_FIELDS = ("thought", "report", "tool_call", "invalid_tool_call", "answer", "observation")
FAILURE_FIELDS = ("last_failure", "failure")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 model call`, `2 model calls` (`nouns`: an irregular plural)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def elapsed(progress: Progress, now: datetime | None = None) -> float:
    """Seconds since the session started, by this machine's clock (ticks between steps)."""
    if progress.started_at is None or progress.done:
        return progress.elapsed_seconds
    started = datetime.fromisoformat(progress.started_at)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return max(progress.elapsed_seconds, ((now or datetime.now(UTC)) - started).total_seconds())


def progress_line(session_id: str, progress: Progress, now: datetime | None = None) -> Text:
    """The live line: the node running now (else the last one), counts, a ticking clock."""
    line = Text()
    node = ", ".join(dict.fromkeys(progress.running)) or progress.node
    line.append(f"{session_id} ", style="bold")
    line.append(f"step {progress.step} · {node} · ")
    line.append(
        f"{plural(progress.llm_calls, 'model call')}, {plural(progress.tool_calls, 'tool call')}, "
    )
    line.append(
        f"{plural(progress.tokens, 'token')}, {plural(progress.sources, 'source')} · "
        f"{elapsed(progress, now):.0f}s\n"
    )
    line.append(clean(progress.last_action[:160]), style="dim")
    return line


def heavy_lines(
    session_id: str, progress: HeavyProgress, running: dict[int, Progress] | None = None
) -> Text:
    """The live view of a Heavy session: one line per branch, with a running branch's step."""
    lines = Text()
    lines.append(f"{session_id} ", style="bold")
    lines.append(f"heavy mode · {progress.stage}")
    lines.append(f" · cancelling: {progress.cancelling}\n" if progress.cancelling else "\n")
    for branch in progress.branches:
        detail = f": {clean(branch.answer[:80])}" if branch.answer else ""
        live = (running or {}).get(branch.branch)
        if live is not None and branch.status == "running":
            calls = plural(live.tool_calls, "tool call")
            detail = f" · step {live.step}, {calls} · {clean(live.last_action[:80])}"
        lines.append(
            f"  {branch.session_id} (t={branch.temperature}, {branch.strategy}) "
            f"{branch.status}{detail}\n"
        )
    return lines


def live_view(session_id: str, progress: Progress | HeavyLive) -> Text:
    from workers.client import HeavyLive

    if isinstance(progress, HeavyLive):
        return heavy_lines(session_id, progress.progress, progress.running)
    line = progress_line(session_id, progress)
    if progress.plan is not None and progress.plan.status == "awaiting_approval":
        line.append("\n" + clean("\n".join(plan_lines(session_id, progress.plan.model_dump()))))
    return line


def plan_lines(session_id: str, plan: dict[str, Any]) -> list[str]:
    """A session's plan as `show` and `ask` print it: what was decided, the plan, its
    questions (with answers), and while it waits how to approve or reject it."""
    status = str(plan.get("status"))
    edited = " (edited)" if plan.get("edited") else ""
    lines = [f"plan: {status}{edited}" + (f": {plan['note']}" if plan.get("note") else "")]
    lines += ["  " + line for line in str(plan.get("plan") or "").splitlines()]
    answers = list(plan.get("answers") or [])
    for number, question in enumerate(plan.get("questions") or [], start=1):
        lines.append(f"  question {number}: {question}")
        if number <= len(answers):
            lines.append(f"  answer {number}: {answers[number - 1]}")
    if status == "awaiting_approval":
        lines.append(
            f"approve: deepresearch approve {session_id} [--plan-file F] [--answer TEXT]... "
            f"· reject: deepresearch reject {session_id}"
        )
    return lines


def print_markdown(markdown: str, console: Console = out) -> None:
    """Rendered on a terminal (at its width); elsewhere the markdown itself, line for line (a
    rendering would be wrapped, cut and centred at 80 columns)."""
    if console.is_terminal:
        from rich.markdown import Markdown

        console.print(Markdown(clean(markdown)))
    else:
        console.print(markdown.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)


def print_report(report: ResearchReport, as_json: bool, console: Console = out) -> None:
    """The answer with its sources, or the long report (which holds both), then one line of
    counts."""
    if as_json:
        console.print_json(report.model_dump_json())
        return
    if report.report_markdown is not None:
        print_markdown(report.report_markdown, console)
        print_counts(report, console)
        return
    console.print(f"[bold]Question:[/bold] {safe(report.question)}")
    console.print(f"[bold]Answer:[/bold] {safe(report.answer)}")
    if report.sources:
        console.print("[bold]Sources:[/bold]")
        for index, url in enumerate(report.sources, start=1):
            console.print(f"  [{index}] {safe(url)}")
    print_counts(report, console)


def print_counts(report: ResearchReport, console: Console = out) -> None:
    console.print(
        f"[dim]{report.session_id}: {report.termination} · "
        f"{plural(report.llm_calls, 'model call')} · {plural(report.tool_calls, 'tool call')} · "
        f"{plural(report.prompt_tokens + report.completion_tokens, 'token')} · "
        f"{plural(report.spent.searches, 'search', 'searches')} · "
        f"{plural(report.spent.pages, 'page')} · ${report.spent.usd:.4f} · "
        f"{report.elapsed_seconds:.1f}s[/dim]"
    )


def spent_line(spent: dict[str, Any]) -> str:
    """`12,345 tokens (estimated 0) · 3 searches · 2 pages · $0.0123`."""
    estimated = spent.get("estimated_tokens", 0)
    note = f" ({estimated} estimated)" if estimated else ""
    return (
        f"{plural(spent.get('tokens', 0), 'token')}{note} · "
        f"{plural(spent.get('searches', 0), 'search', 'searches')} · "
        f"{plural(spent.get('pages', 0), 'page')} · ${spent.get('usd', 0.0):.4f}"
    )


def print_step(number: int, step: dict[str, Any]) -> None:
    retried = step.get("attempts", 1) > 1
    retries = f" · attempt {step['attempts']}" if retried else ""
    if "duration_s" in step:
        retries += f" · {step['duration_s']:.2f}s"
    if retried and "total_s" in step:
        retries += f", {step['total_s']:.2f}s with its retries"
    if step.get("cached"):
        parts = safe("+".join(map(str, step["cached"])))
        retries += f" · cached {parts}, {age(step.get('cached_age_s'))} old"
    if step.get("replayed"):
        retries += " · replayed from its tape"
    if step.get("from"):  # a fork's step, taken over from the original's record
        retries += f" · from {safe(step['from'])}"
    out.print(
        f"[cyan]{number:>3}. {safe(step['summary'] or step['node'])}[/cyan]"
        f" [dim]({step['status']}{retries})[/dim]"
    )
    for key in (*STEP_FIELDS, *FAILURE_FIELDS):
        if key in step:
            value = step[key]
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            text = text.strip().replace("\n", "\n" + " " * 9)
            out.print(f"       [bold]{key}:[/bold] {safe(text)}")


def age(seconds: float | None) -> str:
    """`42s`, `5m`, `3.2h`: how old a cached result was when it was served."""
    value = float(seconds or 0)
    if value < 120:
        return f"{value:.0f}s"
    if value < 7200:
        return f"{value / 60:.0f}m"
    return f"{value / 3600:.1f}h"


def webhook_line(sent: dict[str, Any]) -> str:
    """`completed: delivered (HTTP 200, 3 attempts)`, `... delivering (attempt 2: why)`."""
    state, attempts = sent.get("state"), sent.get("attempts") or 0
    if state == "delivered":
        shown = f"delivered (HTTP {sent.get('http_status')}, {attempts} attempt(s))"
    elif state == "delivering":
        why = f": {sent['error']}" if sent.get("error") else ""
        shown = f"delivering (attempt {attempts}{why})"
    else:
        shown = f"failed: {sent.get('error')}"
    return f"{sent.get('event')}: {shown} id {sent.get('id')}"


def comparison_lines(comparison: dict[str, object] | None) -> list[str]:
    """What the newest run found against the run before it."""
    if not comparison:
        return []
    if not comparison.get("previous"):
        return ["last run: the first (nothing to compare with)"]
    lines = [f"last run against {comparison['previous']}:"]
    for key, label in (("new", "new source"), ("gone", "gone"), ("changed", "changed page")):
        lines += [f"  {label}: {url}" for url in comparison.get(key) or []]  # type: ignore[attr-defined]
    answer = "changed" if comparison.get("answer_changed") else "the same"
    lines.append(f"  answer: {answer}")
    return lines


def print_outcome(timeline: dict[str, Any]) -> None:
    progress = timeline.get("progress") or {}
    if timeline.get("follow_up_of"):
        out.print(f"follow-up of {safe(timeline['follow_up_of'])}", highlight=False)
    if timeline.get("follow_ups"):
        out.print(f"follow-ups: {safe(', '.join(timeline['follow_ups']))}", highlight=False)
    origin = timeline.get("forked_from")
    if origin and origin.get("synthesis"):
        out.print(
            f"forked from {safe(origin['session'])}: its branches, a new synthesis",
            highlight=False,
        )
    elif origin:
        out.print(
            f"forked from {safe(origin['session'])} at step {origin['step']}", highlight=False
        )
    if timeline.get("forks"):
        out.print(f"forks: {safe(', '.join(timeline['forks']))}", highlight=False)
    plan = progress.get("plan") or (timeline.get("report") or {}).get("plan")
    if plan:
        for line in plan_lines(str(timeline.get("session_id", "ID")), plan):
            out.print(safe(line), highlight=False)
    if progress.get("awaiting_budget") == "tenant":  # its tenant's day or month budget
        out.print(f"[yellow]awaiting budget:[/yellow] {safe(str(progress.get('held')))}")
    elif progress.get("awaiting_budget"):
        what = progress["awaiting_budget"]
        out.print(
            f"[yellow]awaiting budget:[/yellow] its {what} budget is spent; "
            f"`deepresearch budget {safe(str(timeline.get('session_id', 'ID')))} --add-{what} N` "
            "lets it go on"
        )
    if progress.get("spent"):
        out.print(f"[dim]spent so far: {spent_line(progress['spent'])}[/dim]")
    for sent in timeline.get("webhooks") or []:
        out.print(f"[dim]webhook {safe(webhook_line(sent))}[/dim]")
    if timeline.get("report"):
        report = timeline["report"]
        if report.get("schedule_id"):
            out.print(f"a run of schedule {safe(report['schedule_id'])}", highlight=False)
        for line in comparison_lines(report.get("comparison")):
            out.print(safe(line), highlight=False)
        answer, why = safe(str(report.get("answer"))), safe(str(report.get("termination")))
        out.print(f"[bold]Answer:[/bold] {answer}  [dim]({why})[/dim]")
        if report.get("spent"):
            out.print(f"[dim]spent: {spent_line(report['spent'])}[/dim]")
    if timeline.get("error"):
        out.print(f"[red]Failed:[/red] {safe(timeline['error'])}")


def print_timeline(session_id: str, timeline: dict[str, Any]) -> None:
    steps = timeline["steps"]
    turns = sum(step["node"] == "think" for step in steps)
    out.print(
        f"[bold]{safe(session_id)}[/bold] · {timeline['status']} · "
        f"{plural(len(steps), 'step')} · {plural(turns, 'model call')}"
    )
    for number, step in enumerate(timeline["steps"], start=1):
        print_step(number, step)
    print_outcome({"session_id": session_id, **timeline})


def print_sessions(rows: list[SessionRow], console: Console = out) -> None:
    """A table on a terminal; in a pipe one tab-separated line a session, nothing cut."""
    if rows and not console.is_terminal:
        for row in rows:
            cells = (row.session_id, row.status, row.started[:19].replace("T", " "),
                     "" if row.steps is None else str(row.steps), row.termination or "",
                     " ".join(clean(row.question).split()))  # fmt: skip
            console.print("\t".join(cells), markup=False, highlight=False, soft_wrap=True)
        return
    from rich.table import Table

    # At the terminal's width: every column but the question whole, the question cut to fit.
    # (model calls: what `show` counts as a session's `think` steps)
    names = ("session", "status", "started", "model calls", "termination")
    cells = [
        (row.session_id, row.status, row.started[:19].replace("T", " "),
         "" if row.steps is None else str(row.steps), row.termination or "")
        for row in rows
    ]  # fmt: skip
    widths = [max([len(name), *(len(cell[i]) for cell in cells)]) for i, name in enumerate(names)]
    table = Table(box=None)
    for name, width in zip(names, widths, strict=True):
        table.add_column(name, no_wrap=True, min_width=width)
    # what is left of the line (each column is padded by one space on either side)
    left = max(10, console.width - sum(widths) - 2 * (len(names) + 1))
    table.add_column("question", no_wrap=True, overflow="ellipsis", max_width=left)
    for row, cell in zip(rows, cells, strict=True):
        table.add_row(*(escape(text) for text in cell), safe(" ".join(row.question.split())))
    console.print(table if rows else "no sessions")
