"""ResearchWorkflow: one research session = one workflow running the research graph."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from langchain_core.messages import AIMessage, HumanMessage
    from temporalio.langgraph import graph

    from activities.plan import DraftedPlan, PlanRequest
    from graphs import prompts
    from graphs.budget import TENANT_HOLD, Budget, lifted, spent
    from graphs.plan import (
        Approval,
        NotWaiting,
        Plan,
        approved,
        check_approval,
        check_waiting,
        with_plan,
    )
    from graphs.protocol import DEFAULT_DIALECT, carried_over, tongyi
    from graphs.state import Control, ResearchState, to_message, to_messages
    from graphs.strategies import strategy_of
    from workers.workflows import search_attributes as attrs
    from workers.workflows.graph import GRAPH_NAME, compiled
    from workers.workflows.models import (
        FollowUp,
        ForkFrom,
        HistoryBudget,
        Progress,
        ResearchInput,
        ResearchReport,
        first_message,
    )
    from workers.workflows.options import ActivityPolicy, policy_options
    from workers.workflows.reports import assemble, write_report
    from workers.workflows.scheduled import compare_with_last
    from workers.workflows.webhooks import Sent, announce

RECURSION_LIMIT = 100_000  # supersteps; the session's own limits end it long before
# Sessions started since it fetch and extract a page in one activity (`read`); a session
# started before goes on with `fetch` then `extract`, which its history recorded.
READ_IN_ONE = "read-in-one-activity"
# Sessions started since it record what they spent in their memo (`usage`, tenant budgets).
USAGE_MEMO = "usage-memo"
# Sessions started since it carry their use of the research cache (tenant, --no-cache) to their
# tools; older histories replay without it, their tools' inputs as recorded.
RESEARCH_CACHE = "research-cache"
TENANT_CHECK_TIMEOUT = timedelta(minutes=1)
PLANNING_TIMEOUT = timedelta(minutes=5)


def describe_update(node: str, update: dict[str, Any]) -> str | None:
    """One line for the progress view: what an I/O node just did (None: nothing to say)."""
    if node == "think":
        messages = update.get("messages") or []
        if not messages:
            return None
        message = to_message(messages[-1])
        calls = getattr(message, "tool_calls", [])
        if calls:
            return f"{calls[0]['name']} {json.dumps(calls[0]['args'], ensure_ascii=False)}"[:200]
        return "answered" if tongyi.extract_answer(str(message.content)) is not None else "thought"
    if node in ("search", "scholar"):
        return f"{node}: {len(update.get('observations') or [])} result set(s)"
    if node == "fetch":
        pages = update.get("pages") or []
        return "read " + pages[0].get("url", "") if pages else "a page could not be read"
    if node == "extract":
        return "extracted evidence"
    if node == "read":
        sources = update.get("sources") or []
        return "read " + sources[0] if sources else "a page could not be read"
    return None


def root_message(error: BaseException) -> str:
    """Our classified error (the first ApplicationError in the chain, e.g. the model
    endpoint's HTTP status), on one line: its message, without the `TYPE: ` that str() puts
    before it; not "Activity task failed" nor the library error it was made from."""
    current: BaseException | None = error
    while current is not None and not isinstance(current, ApplicationError):
        current = getattr(current, "cause", None)
    text = current.message if isinstance(current, ApplicationError) else str(error)
    return " ".join(text.split())


def trajectory(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The final conversation in the Tongyi format (what Heavy mode's reports read); of an
    iterative session only its last rounds, whose report carries the rest."""
    messages = strategy_of(state).fusion_messages(to_messages(state.get("messages") or []), state)
    return tongyi.render(messages, state.get("today", ""))


def record_tail(state: dict[str, Any]) -> list[dict[str, str]]:
    """The conversation from the model's last turn on, as it ended (Tongyi rendering): the
    last turn (or the limit notice that overwrote it), then what followed it (a tool response
    or the notice that overwrote one). `export` appends it to the last model call's input, so
    the record ends as the reference's `_run` result does for every termination."""
    messages = to_messages(state.get("messages") or [])
    last = max((i for i, m in enumerate(messages) if isinstance(m, AIMessage)), default=None)
    if last is None:
        return []
    return tongyi.render(messages[last:], state.get("today", ""))[1:]


def following(earlier: FollowUp, state: ResearchState) -> ResearchState:
    """A follow-up's first state: the earlier conversation (its messages renamed, so that the
    new question's does not replace the old one's), then the new question; the earlier
    ledger, sources and pages, so its evidence is cited and its pages are not fetched again."""
    before = [
        message.model_copy(update={"id": f"earlier-{n}"})
        for n, message in enumerate(to_messages(earlier.messages))
    ]
    return {
        **state,
        "messages": [*before, *state["messages"]],
        "ledger": list(earlier.ledger),
        "sources": list(earlier.sources),
        "known_pages": dict(earlier.pages),
    }


# What a fork spends is counted from zero (the original paid for the steps it took over).
SPENDING = ("prompt_tokens", "completion_tokens", "estimated_tokens", "searches", "pages_read")
# Where the original stood in its own run: its replica, a pause for budget, its bounds, its
# use of the research cache (the fork's own is set for its tenant).
NOT_FORKED = ("replica", "resume_at", "awaiting_budget", "budget_need", "budget_spent", "cache")


def forked(fork: ForkFrom, fresh: ResearchState) -> ResearchState:
    """A fork's first state: the original's when its model call after `fork.step` began (the
    conversation through that step, its date included, so the next prompt is the original's
    byte for byte unless the dialect changes: then its turns are carried over as text the new
    dialect shows; its counters, so the limits hold across both), with a fresh clock and
    wall-clock budget, its own dialect, strategy, budget and spending, and the changes asked
    for. The pages read by then are known: a visit of one reads the stored page."""
    state = resumed(fork.state, fresh, fresh_budget=True)
    state["today"] = str(fork.state.get("today") or fresh["today"])
    state["started"] = fresh["started"]
    state["protocol"], state["strategy"] = fresh["protocol"], fresh["strategy"]
    if (fork.state.get("protocol") or DEFAULT_DIALECT) != state["protocol"]:
        state["messages"] = carried_over(state["messages"], state["protocol"])
    state["known_pages"] = {**(fork.state.get("known_pages") or {}), **fork.pages}
    for key in SPENDING:
        state[key] = 0  # type: ignore[literal-required]
    for key in (*NOT_FORKED, "budget", "on_budget", "prices"):
        state.pop(key, None)  # type: ignore[misc]
    for key in ("budget", "on_budget", "prices"):
        if key in fresh:
            state[key] = fresh[key]  # type: ignore[literal-required]
    if fork.model:
        state["model"] = fork.model
    if fork.question:
        state["question"] = fresh["question"]
        state["messages"] = [
            HumanMessage(content=fresh["messages"][0].content, id="question")
            if getattr(message, "id", None) == "question"
            else message
            for message in state["messages"]
        ]
    return state


def resumed(saved: dict[str, Any], fresh: ResearchState, *, fresh_budget: bool) -> ResearchState:
    """A saved state to continue from: after a continue-as-new as it was; after a failure
    (`resume`) with a fresh clock and wall-clock budget from now."""
    state: ResearchState = {**saved}  # type: ignore[typeddict-item]
    state["messages"] = to_messages(saved.get("messages") or [])
    state.setdefault("started", fresh["started"])
    if fresh_budget:
        for key in ("deadline", "clock", "today"):
            state[key] = fresh[key]  # type: ignore[literal-required]
    return state


@workflow.defn(name="ResearchWorkflow")
class ResearchWorkflow:
    def __init__(self) -> None:
        self._progress = Progress()
        self._started: datetime | None = None
        self._control: Control = {"cancel": None, "steer": []}
        self._indexed = False
        self._top_ups = 0
        self._usage_memo = False
        self._watching = False  # it checks its tenant's day and month budgets as it runs
        self._request: ResearchInput | None = None
        self._tenant = "default"
        self._model = ""
        self._plan: Plan | None = None  # `--plan`: drafted, then decided

    @workflow.signal
    def cancel(self, reason: str = "") -> None:
        """Graceful stop: no more tool calls; the model gives its best answer from what it has."""
        self._control["cancel"] = reason.strip() or "cancelled by the operator"
        self._progress.cancelling = self._control["cancel"]

    @workflow.signal
    def steer(self, note: str) -> None:
        """An operator's note, delivered to the model before its next turn."""
        if note.strip():
            self._control.setdefault("steer", []).append(note.strip())

    @workflow.update
    def add_budget(self, add: Budget) -> Budget:
        """Raise the budget (a top-up): a session waiting for one goes on from where it
        paused; a running one simply has more to spend. Answers the budget now."""
        raised = Budget(**self._control.get("budget") or {}).raised(add)
        self._control["budget"] = raised.model_dump()
        self._progress.budget = raised
        self._top_ups += 1
        return raised

    @add_budget.validator
    def _check_top_up(self, add: Budget) -> None:
        if self._progress.done:
            raise ValueError("the session has ended; a budget can no longer be raised")
        current = Budget(**self._control.get("budget") or {})
        named = {k: v for k, v in add.model_dump().items() if v}
        if not named:
            raise ValueError("name an amount to add: tokens, usd, searches or pages (above 0)")
        for name in named:
            if getattr(current, name) is None:
                raise ValueError(f"the session has no {name} budget to raise")

    @workflow.update
    def approve(self, approval: Approval) -> Plan:
        """Go on with the plan, as drafted or edited, and the answers to its questions."""
        assert self._plan is not None  # the validator refused it otherwise
        return self._set_plan(approved(self._plan, approval))

    @approve.validator
    def _check_approve(self, approval: Approval) -> None:
        check_approval(self._awaited_plan(), approval)

    @workflow.update
    def reject(self, reason: str = "") -> Plan:
        """End the session before it researches (termination `rejected`)."""
        note = " ".join(reason.split())[:500] or "rejected by the user"
        plan = self._awaited_plan()
        return self._set_plan(plan.model_copy(update={"status": "rejected", "note": note}))

    @reject.validator
    def _check_reject(self, reason: str = "") -> None:
        check_waiting(self._awaited_plan())

    def _awaited_plan(self) -> Plan:
        if self._plan is None:
            raise NotWaiting(
                "the session has no plan to decide on (start it with --plan, or it is drafting one)"
            )
        return self._plan

    def _set_plan(self, plan: Plan) -> Plan:
        self._plan = plan
        self._progress.plan = plan
        self._control["plan"] = plan.model_dump()  # carried over a continue-as-new
        return plan

    async def _plan_first(self, request: ResearchInput, first: str) -> DraftedPlan | None:
        """One planning call, then a durable wait for the user's decision (no worker held):
        approve, reject, cancel, or no reply within the wait (the drafted plan is used). A
        planning call that fails for good leaves the research to go on without a plan."""
        self._progress.node = "planning"
        self._progress.last_action = "drafting a research plan"
        try:
            drafted = await workflow.execute_activity(
                "plan.draft",
                PlanRequest(question=first),
                result_type=DraftedPlan,
                **policy_options(request.activities, PLANNING_TIMEOUT, summary="plan: draft"),
            )
        except ActivityError as error:
            self._set_plan(Plan(status="skipped", note=f"planning failed: {root_message(error)}"))
            return None
        wait = request.plan_wait_seconds
        self._set_plan(Plan(plan=drafted.plan, questions=drafted.questions, wait_seconds=wait))
        self._progress.tokens = drafted.prompt_tokens + drafted.completion_tokens
        self._progress.spent = spent(
            {
                "prompt_tokens": drafted.prompt_tokens,
                "completion_tokens": drafted.completion_tokens,
                "prices": request.prices.model_dump(),
            }
        )
        self._progress.node = "awaiting_approval"
        self._progress.last_action = "waiting for the plan's approval"
        await self._announce(
            "awaiting_approval",
            status="awaiting_approval",
            plan=drafted.plan,
            questions=drafted.questions,
        )

        def decided() -> bool:
            assert self._plan is not None
            return self._plan.status != "awaiting_approval" or bool(self._control.get("cancel"))

        try:
            await workflow.wait_condition(decided, timeout=wait, timeout_summary="plan approval")
        except TimeoutError:
            note = f"no decision within {wait:g} s (DEEPRESEARCH_PLAN_WAIT): went on with this plan"
            self._set_plan(self._plan.model_copy(update={"status": "proceeded", "note": note}))
        if self._plan.status == "awaiting_approval":  # cancelled while it waited
            note = str(self._control.get("cancel"))
            self._set_plan(self._plan.model_copy(update={"status": "rejected", "note": note}))
        return drafted

    @workflow.query
    def progress(self) -> Progress:
        if self._started is not None:
            elapsed = (workflow.now() - self._started).total_seconds()
            started = self._started.isoformat()
            return self._progress.model_copy(
                update={"elapsed_seconds": elapsed, "started_at": started}
            )
        return self._progress

    def _track_update(self, node: str, update: dict[str, Any]) -> None:
        self._progress.node = node
        action = describe_update(node, update)
        if action is not None:
            self._progress.last_action = action

    def _track_state(self, state: dict[str, Any]) -> None:
        p = self._progress
        if state.get("llm_calls", 0) != p.llm_calls:
            attrs.upsert(self._indexed, attrs.STEPS.value_set(state.get("llm_calls", 0)))
            self._record_usage(state)
        elif self._watching and spent(state) != p.spent:
            self._record_usage(state)  # its tenant's watch reads searches and pages at once
        p.llm_calls = p.step = state.get("llm_calls", 0)
        p.tool_calls = state.get("tool_calls", 0)
        p.tokens = state.get("prompt_tokens", 0) + state.get("completion_tokens", 0)
        p.sources = len(state.get("sources") or [])
        p.spent = spent(state)
        p.budget = Budget(**self._control.get("budget") or {})

    def _record_usage(self, state: dict[str, Any]) -> None:
        """What the session spent, in its memo, where `usage` and the tenants' day and month
        budgets read it (at most a step behind while it runs)."""
        if self._usage_memo:
            workflow.upsert_memo(
                {
                    "tenant": self._tenant,
                    "model": self._model,
                    "spent": spent(state).model_dump(),
                }
            )

    def _history_full(self, budget: HistoryBudget) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() >= budget.events
            or info.get_current_history_size() >= budget.bytes
            or info.is_continue_as_new_suggested()
        )

    async def _run_graph(
        self, app: Any, state: dict[str, Any], history: HistoryBudget
    ) -> dict[str, Any]:
        """The graph from `state` until it ends, pauses for budget or reaches a checkpoint."""
        final = state
        async for mode, chunk in app.astream(
            state,
            config={"recursion_limit": RECURSION_LIMIT},
            context=self._control,
            stream_mode=["updates", "values"],
        ):
            if mode == "values":
                final = chunk
                self._track_state(chunk)
                if self._history_full(history):
                    self._control["checkpoint"] = True  # the graph stops before its next turn
                continue
            for node, update in chunk.items():
                if isinstance(update, dict):
                    self._track_update(node, update)
        return final

    async def _announce(self, event: str, **data: Any) -> None:
        """The session's webhook, when it asks for `event` (a child workflow delivers it)."""
        request = self._request
        if request is None or request.webhook is None:
            return
        sent = self._control.setdefault("webhooks", [])
        await announce(
            request.webhook,
            request.tenant,
            event,
            sent,
            request.activities.retry_initial_seconds,
            question=request.question[:300],
            spent=self._progress.spent.model_dump(),
            **data,
        )
        self._progress.webhooks = [Sent(**s) for s in sent]

    async def _watch_tenant(self, every: float, policy: ActivityPolicy) -> None:
        """Every `every` seconds (a durable timer), ask whether the tenant's day or month
        budget is spent: while it is, the graph pauses before its next turn (`hold`); once it
        is not (a new day or month, a raised bound), the session goes on. A check that fails
        keeps what the last one found."""
        while True:
            await workflow.sleep(every)
            try:
                reason = await workflow.execute_activity(
                    "tenant.over_budget",
                    self._tenant,
                    result_type=str,
                    **policy_options(
                        policy, TENANT_CHECK_TIMEOUT, summary=f"tenant {self._tenant}: budget"
                    ),
                )
            except ActivityError:
                continue
            self._control["hold"] = reason or None
            self._progress.held = reason or None

    async def _await_budget(self, state: dict[str, Any]) -> dict[str, Any]:
        """Wait, holding no worker, until a top-up lifts the bound that ran out, or the
        tenant's hold ends (or a cancel); the wall-clock budget does not run meanwhile. Then go
        on from the node that paused: `act` plans the turn's calls again, a finished step goes
        on with the next turn."""
        reason = state["awaiting_budget"]
        self._record_usage(state)
        self._progress.awaiting_budget = reason
        self._progress.node = "awaiting_budget"
        self._progress.last_action = (
            f"waiting: {self._control.get('hold')}"
            if reason == TENANT_HOLD
            else f"waiting for a top-up: the {reason} budget is spent"
        )
        await self._announce("awaiting_budget", status="awaiting_budget", reason=reason)
        paused = workflow.now()
        need = state.get("budget_need") if state.get("resume_at") == "act" else None

        def ready() -> bool:
            if self._control.get("cancel"):
                return True
            if reason == TENANT_HOLD:
                return not self._control.get("hold")
            budget = Budget(**self._control.get("budget") or {})
            return lifted(budget, spent(state), need)

        await workflow.wait_condition(ready)
        self._progress.awaiting_budget = None
        waited = (workflow.now() - paused).total_seconds()
        cancel = self._control.get("cancel")
        return {
            **state,
            "awaiting_budget": "",
            "budget_need": {},
            "budget": dict(self._control.get("budget") or {}),
            "deadline": state.get("deadline", 0.0) + waited,
            "resume_at": "refine" if cancel else state.get("resume_at") or "think",
        }

    async def _planned(self, request: ResearchInput, state: ResearchState) -> ResearchState:
        """The state after the plan's phase: the first user message with the plan's note, the
        planning call's tokens, the wall-clock budget moved by the wait; or, rejected or
        cancelled, ended before any research."""
        first = str(state["messages"][-1].content)  # the question (after a follow-up's past)
        drafted = await self._plan_first(request, first)
        assert self._plan is not None
        waited = workflow.now().timestamp() - state["clock"]
        state = {**state, "deadline": state["deadline"] + waited}  # type: ignore[typeddict-item]
        if drafted is not None:
            state["prompt_tokens"] = drafted.prompt_tokens
            state["completion_tokens"] = drafted.completion_tokens
        if self._plan.status == "rejected":
            cancelled = self._control.get("cancel")
            termination = (
                prompts.TERMINATION_CANCELLED if cancelled else prompts.TERMINATION_REJECTED
            )
            return {**state, "termination": termination, "answer": ""}  # type: ignore[typeddict-item]
        message = HumanMessage(content=with_plan(first, self._plan), id="question")
        self._record_usage(state)
        return {**state, "messages": [*state["messages"][:-1], message]}

    @workflow.run
    async def run(self, request: ResearchInput) -> ResearchReport:
        if not request.question.strip():
            raise ApplicationError("the question is empty", non_retryable=True)
        self._request = request
        try:
            return await self._research(request)
        except FailureError as error:  # an activity that failed for good: the session fails
            await self._announce("failed", status="failed", error=root_message(error))
            raise

    async def _research(self, request: ResearchInput) -> ResearchReport:
        now = workflow.now()
        self._indexed = request.indexed
        if request.control is not None:  # carried over a continue-as-new
            self._control = {"cancel": None, "steer": [], **request.control}
            self._progress.webhooks = [Sent(**s) for s in self._control.get("webhooks") or []]
            if self._control.get("plan"):
                self._set_plan(Plan(**self._control["plan"]))
        state: ResearchState = {
            "question": request.question,
            "protocol": request.protocol,
            "strategy": request.strategy,
            "started": now.timestamp(),
            "today": now.date().isoformat(),
            "deadline": now.timestamp() + request.limits.wall_clock_seconds,
            "clock": now.timestamp(),
            "limits": request.limits.model_dump(),
            "sampling": request.sampling.model_dump(),
            "messages": [
                HumanMessage(content=first_message(request.question, request.files), id="question")
            ],
            "files": dict(request.files),
            "llm_calls": 0,
            "tool_calls": 0,
        }
        if request.budget.bounded() or request.prices != type(request.prices)():
            # only where set: a session without a budget keeps the state it always had
            state |= {
                "budget": request.budget.model_dump(),
                "on_budget": request.on_budget,
                "prices": request.prices.model_dump(),
            }
        if request.follow_up is not None and request.resume_state is None:
            state = following(request.follow_up, state)
        if request.fork is not None and request.resume_state is None:
            state = forked(request.fork, state)
        if request.tape is not None and request.resume_state is None:
            state["tape"] = request.tape.model_dump()
        if request.resume_state is not None:
            state = resumed(request.resume_state, state, fresh_budget=not request.continued)
        state["read_in_one"] = workflow.patched(READ_IN_ONE)
        if workflow.patched(RESEARCH_CACHE) and "cache" not in state:  # kept across resumes
            state["cache"] = {"tenant": request.tenant, "read": request.cache}
        self._usage_memo = workflow.patched(USAGE_MEMO)
        self._tenant, self._model = request.tenant, request.model
        self._started = datetime.fromtimestamp(state["started"], tz=UTC)
        if state.get("budget") and self._control.get("budget") is None:
            self._control["budget"] = dict(state["budget"])
        if not request.continued:
            attrs.upsert_session(self._indexed, request.model, request.protocol, request.question)
        if request.plan and request.resume_state is None:
            state = await self._planned(request, state)
        final: dict[str, Any] = dict(state)
        app = compiled(graph(GRAPH_NAME))  # graph() also scopes the plugin's task cache
        every = request.tenant_watch_seconds
        self._watching = bool(every)
        watch = (
            asyncio.create_task(self._watch_tenant(every, request.activities)) if every else None
        )
        try:
            while not final.get("termination"):  # a rejected plan ended it before it began
                if final.get("awaiting_budget"):
                    final = await self._await_budget(final)
                final = await self._run_graph(app, final, request.history)
                if final.get("termination") or not final.get("awaiting_budget"):
                    break
                if self._control.get("checkpoint"):
                    break  # the wait goes on in the fresh run
        finally:
            if watch is not None:
                watch.cancel()
        if not final.get("termination"):  # stopped at a checkpoint: go on in a fresh run
            workflow.continue_as_new(
                request.model_copy(
                    update={
                        "resume_state": final,
                        "continued": True,
                        "control": {k: v for k, v in self._control.items() if k != "checkpoint"},
                    }
                )
            )
        written = None
        unplanned = self._plan is not None and self._plan.status == "rejected"
        if request.report and not unplanned:  # a rejected plan: nothing was read to report
            self._progress.node = "report"
            written = await write_report(
                request.question,
                final.get("answer", ""),
                list(final.get("ledger") or []),
                request.activities,
            )
        self._progress.done = True
        self._record_usage(final)
        workflow.metric_meter().create_counter("deepresearch_sessions").add(
            1, {"termination": final.get("termination", "") or "unknown"}
        )
        attrs.upsert_termination(self._indexed, final.get("termination", ""))
        report = assemble(
            question=request.question,
            started=self._started,
            written=written,
            answer=final.get("answer", ""),
            termination=final.get("termination", ""),
            sources=final.get("sources", []),
            llm_calls=final.get("llm_calls", 0),
            tool_calls=final.get("tool_calls", 0),
            prompt_tokens=final.get("prompt_tokens", 0),
            completion_tokens=final.get("completion_tokens", 0),
            spent=spent(final),
            budget=Budget(**self._control.get("budget") or {}),
            trajectory=trajectory(final) if request.return_trajectory else None,
            ledger=list(final.get("ledger") or []) if request.return_trajectory else None,
            tail=record_tail(final),
            plan=self._plan,
            follow_up_of=request.follow_up.of if request.follow_up else None,
            forked_from=request.fork.of if request.fork else None,
            forked_at_step=request.fork.step if request.fork else None,
        )
        self._progress.spent = report.spent
        if request.schedule is not None:
            report.schedule_id = request.schedule.id
            report.comparison = await compare_with_last(
                request.schedule, report, request.activities
            )
        cancelled = report.termination in (
            prompts.TERMINATION_CANCELLED,
            prompts.TERMINATION_REJECTED,
        )
        compared = {"comparison": report.comparison.model_dump()} if report.comparison else {}
        await self._announce(
            "cancelled" if cancelled else "completed",
            status="completed",
            termination=report.termination,
            answer=report.answer,
            **compared,
        )
        if report.comparison is not None and report.comparison.any():
            await self._announce("changed", status="completed", answer=report.answer, **compared)
        return report
