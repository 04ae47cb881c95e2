"""The only place that turns settings and a user's options into workflow inputs: a session's
`ResearchInput`, a Heavy session's `HeavyInput`, an evaluation's `EvalInput`, and the input that
resumes a stopped session; plus what a client adds to every new session (uploaded files, the
deployment's stamp)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from activities.blobstore import BlobStore
from activities.errors import ToolError
from activities.netguard import check_url, check_url_shape
from activities.webhooks import EVENTS, Event
from graphs.budget import Budget, OnBudget
from graphs.state import ResearchLimits, Sampling
from workers.boundary.keys import DEFAULT_TENANT, TENANT
from workers.client.budgets import period_bounded, price_table, tenant_budgets
from workers.client.errors import InvalidRequest
from workers.config import Settings
from workers.eval.data import EvalItem
from workers.workflows import search_attributes
from workers.workflows.evaluation import EvalInput
from workers.workflows.heavy import HeavyInput
from workers.workflows.models import ForkFrom, HistoryBudget, ResearchInput
from workers.workflows.options import ActivityPolicy
from workers.workflows.webhooks import WebhookSpec

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
MAX_LLM_CALLS = 1_000_000  # beyond any deployment's cap: a larger number is a typo or a probe
Strategy = Literal["react", "iterative"]


class AskOptions(BaseModel):
    """What a user chooses for a new session (the CLI's `ask` flags, the API's request body)."""

    question: str
    mode: Literal["react", "heavy"] = "react"
    branches: int = Field(3, ge=1, le=16, description="Heavy mode's branches.")
    synthesis: Literal["select", "fuse"] = "select"
    strategies: list[Strategy] = Field(default_factory=lambda: ["react"], min_length=1)
    report: bool = False
    max_llm_calls: int | None = Field(None, ge=1, le=MAX_LLM_CALLS)
    files: list[Path] = Field(default_factory=list, description="Files for parse_file.")
    tenant: str = Field(DEFAULT_TENANT, pattern=TENANT.pattern, description="Whose session.")
    budget: Budget = Field(default_factory=Budget, description="What the session may spend.")
    on_budget: OnBudget | None = Field(None, description="answer (default) or pause.")
    webhook: WebhookRequest | None = Field(
        None, description="Where to announce the session's events (DEEPRESEARCH_WEBHOOK_URL)."
    )
    plan: bool = Field(False, description="Draft a plan first and wait for its approval.")
    follow_up_of: str | None = Field(
        None, description="A completed session this one goes on from (its conversation, pages)."
    )
    cache: bool = Field(True, description="Read the research cache (`--no-cache`: no).")


class ForkChanges(BaseModel):
    """What a user changes in a fork (the CLI's `fork` flags, the API's request body); what
    it does not name stays the original's."""

    model_config = ConfigDict(extra="forbid")

    at_step: int | None = Field(
        None, ge=1, le=MAX_LLM_CALLS, description="The last step taken over (single sessions)."
    )
    synthesis: Literal["select", "fuse"] | None = Field(
        None, description="A Heavy session's fork: its synthesis again, select or fuse."
    )
    model: str | None = Field(
        None, min_length=1, max_length=200, description="The model name its own turns ask for."
    )
    strategy: Strategy | None = None
    dialect: Literal["tongyi", "openai"] | None = None
    question: str | None = Field(None, description="A new question in place of the original's.")
    report: bool = False


class ForkOptions(ForkChanges):
    """A fork's changes and whose it is."""

    tenant: str | None = Field(
        None, pattern=TENANT.pattern, description="Whose fork (None: the original's tenant)."
    )


class WebhookRequest(BaseModel):
    """A caller's webhook: the URL and the events it wants (default: all of them)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    events: list[Event] = Field(default_factory=lambda: list(EVENTS), min_length=1)


def webhook_spec(settings: Settings, asked: WebhookRequest | None) -> WebhookSpec | None:
    """The session's webhook (asked, else DEEPRESEARCH_WEBHOOK_URL's), its URL's shape checked
    and a signing secret set; `check_webhook` resolves it."""
    if asked is None and not settings.webhook_url:
        return None
    asked = asked or WebhookRequest(url=settings.webhook_url)
    try:
        check_url_shape(asked.url)
    except ToolError as error:
        raise InvalidRequest(f"webhook.url: {error}") from None
    if settings.webhook_secret is None:
        raise InvalidRequest(
            "webhooks are signed: set DEEPRESEARCH_WEBHOOK_SECRET (whsec_<base64>) on the "
            "workers and here"
        )
    return WebhookSpec(
        url=asked.url,
        events=list(dict.fromkeys(asked.events)),
        links=settings.public_url,
        hours=settings.webhook_hours,
    )


async def check_webhook(settings: Settings, spec: WebhookSpec | None) -> None:
    """The network guard of page reads on the webhook's host, now, so that a refused URL is
    the caller's one-line error and not a delivery that fails later."""
    if spec is None:
        return
    try:
        await check_url(spec.url, allow_loopback=settings.allow_loopback)
    except ToolError as error:
        raise InvalidRequest(f"webhook.url: {error}") from None


def one_line(error: ValidationError) -> str:
    """A pydantic error as the one line a user reads."""
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    where = ".".join(str(part) for part in first.get("loc", ()))
    return message if first["type"] == "value_error" or not where else f"{where}: {message}"


class UploadTooLarge(InvalidRequest):
    """Files past the per-file size or the stored-upload quota (413 over HTTP)."""

    http_status = 413


def _check_sizes(store: BlobStore, settings: Settings, sized: list[tuple[str, int]]) -> None:
    for name, size in sized:
        if size > MAX_UPLOAD_BYTES:
            raise UploadTooLarge(f"{name} is larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
    used, adding = store.uploaded_bytes(), sum(size for _, size in sized)
    if used + adding > settings.upload_quota_bytes:
        raise UploadTooLarge(
            f"these files ({adding} bytes) would pass the stored-upload quota: {used} of "
            f"{settings.upload_quota_bytes} bytes are used (DEEPRESEARCH_UPLOAD_QUOTA_BYTES; "
            "`deepresearch blobs gc` frees files no session references)"
        )


def _store_files(store: BlobStore, opened: list[tuple[str, BinaryIO, int]]) -> dict[str, str]:
    files: dict[str, str] = {}
    for name, handle, size in opened:
        digest = store.put_file(handle)
        store.record_upload(digest, size)
        files[name] = digest
    return files


def upload_files(store: BlobStore, settings: Settings, paths: list[Path]) -> dict[str, str]:
    """Files for the parse_file tool go to the blob store, streamed; the session gets names
    and digests. Raises InvalidRequest with a one-line message for a file that cannot be
    uploaded (missing, a duplicate name, too large, past the quota)."""
    sized: dict[str, tuple[Path, int]] = {}
    for path in paths:
        if not path.is_file():
            raise InvalidRequest(f"no such file: {path}")
        if path.name in sized:
            raise InvalidRequest(f"two files are named {path.name!r}; rename one")
        sized[path.name] = (path, path.stat().st_size)
    _check_sizes(store, settings, [(str(path), size) for path, size in sized.values()])
    with ExitStack() as stack:
        try:
            opened = [
                (name, stack.enter_context(path.open("rb")), size)
                for name, (path, size) in sized.items()
            ]
        except OSError as error:
            raise InvalidRequest(f"cannot read {error.filename}: {error.strerror}") from None
        return _store_files(store, opened)


def upload_name(name: str) -> str:
    """An uploaded file's name as the session sees it: its last path component, refused when
    empty, a dot name or holding control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base in (".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in base):
        raise InvalidRequest(f"invalid file name {name!r}")
    return base


def upload_streams(
    store: BlobStore, settings: Settings, uploads: list[tuple[str, BinaryIO]]
) -> dict[str, str]:
    """Uploaded files given as (name, open file) (the HTTP API's multipart uploads, spooled
    to disk by the server), with the same checks as `upload_files`, streamed to the store."""
    opened: list[tuple[str, BinaryIO, int]] = []
    for name, handle in uploads:
        base = upload_name(name)
        if base in (seen for seen, _, _ in opened):
            raise InvalidRequest(f"two files are named {base!r}; rename one")
        size = handle.seek(0, 2)
        handle.seek(0)
        opened.append((base, handle, size))
    _check_sizes(store, settings, [(name, size) for name, _, size in opened])
    return _store_files(store, opened)


def limits(settings: Settings, max_llm_calls: int | None = None) -> ResearchLimits:
    """The session limits of this deployment (DEEPRESEARCH_MAX_*); a caller's `max_llm_calls`
    can only lower the deployment's cap, never raise it."""
    cap = settings.max_llm_calls
    return ResearchLimits(
        max_llm_calls=min(max_llm_calls, cap) if max_llm_calls else cap,
        max_context_tokens=settings.max_context_tokens,
        wall_clock_seconds=settings.wall_clock_minutes * 60,
    )


def activity_policy(settings: Settings) -> ActivityPolicy:
    return ActivityPolicy(
        heartbeat_seconds=settings.heartbeat_seconds,
        attempts=settings.tool_attempts,
        retry_initial_seconds=settings.retry_initial_seconds,
    )


async def ensure_registered(client: Client) -> bool:
    """Register the search attributes where the server allows it (the dev server, self-hosted
    clusters); False when they are missing and cannot be added: sessions then run unindexed
    rather than failing on an unknown attribute."""
    namespace = client.namespace
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {
            k: v for k, v in search_attributes.TYPES.items() if k not in listed.custom_attributes
        }
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
            )
    except RPCError:
        return False
    return True


async def stamp(client: Client, settings: Settings, request: ResearchInput) -> ResearchInput:
    """The model name, dialect, history budget and activity policy of this deployment, and
    whether the server indexes our search attributes."""
    indexed = await ensure_registered(client)
    budget = HistoryBudget(events=settings.history_events, bytes=settings.history_bytes)
    update = {
        "indexed": indexed,
        "model": settings.model or "",
        "history": budget,
        "protocol": settings.protocol,
        "activities": activity_policy(settings),
    }
    return request.model_copy(update=update)


def _research_input(**fields: Any) -> ResearchInput:
    try:
        return ResearchInput(**fields)
    except ValidationError as error:
        raise InvalidRequest(one_line(error)) from None


def check_question_size(settings: Settings, question: str) -> None:
    size = len(question.encode("utf-8", "surrogatepass"))
    if size > settings.max_question_bytes:
        raise InvalidRequest(
            f"question: {size} bytes is longer than the {settings.max_question_bytes} allowed "
            "(DEEPRESEARCH_MAX_QUESTION_BYTES); put long material in a file"
        )


def research_input(settings: Settings, options: AskOptions, files: dict[str, str]) -> ResearchInput:
    """A single session's input (the template of a Heavy session's branches), before `stamp`."""
    check_question_size(settings, options.question)
    tenant = tenant_budgets(settings.tenant_budgets_file).of(options.tenant)
    on_budget = options.on_budget or tenant.on_budget or "answer"
    if options.mode == "heavy" and on_budget == "pause":
        raise InvalidRequest(
            "on_budget pause is for single sessions; a Heavy session's branches answer"
        )
    if options.mode == "heavy" and options.plan:
        raise InvalidRequest("plan is for single sessions (not mode heavy)")
    if options.follow_up_of is not None and (
        options.mode == "heavy" or options.strategies != ["react"]
    ):
        raise InvalidRequest(
            "a follow-up is a single session with the react strategy (not mode heavy or "
            "strategy iterative): it reads the whole earlier conversation"
        )
    return _research_input(
        question=options.question,
        plan=options.plan,
        plan_wait_seconds=settings.plan_wait,
        budget=options.budget.capped(tenant.session),
        on_budget=on_budget,
        prices=price_table(settings.prices).of(settings.model or ""),
        limits=limits(settings, options.max_llm_calls),
        sampling=Sampling(max_tokens=settings.max_tokens),
        report=options.report,
        protocol=settings.protocol,
        strategy=options.strategies[0],
        files=files,
        tenant=options.tenant,
        tenant_watch_seconds=settings.tenant_watch_seconds if period_bounded(tenant) else 0,
        webhook=webhook_spec(settings, options.webhook),
        cache=options.cache,
    )


def heavy_input(settings: Settings, options: AskOptions, session: ResearchInput) -> HeavyInput:
    return HeavyInput(
        session=session,
        branches=options.branches,
        synthesis=options.synthesis,
        strategies=options.strategies,
        task_queue=settings.task_queue,
    )


def resume_input(
    state: dict[str, Any], resumed_from: str | None = None, tenant: str = DEFAULT_TENANT
) -> ResearchInput:
    """A stopped session's input that continues from the graph state its last model call
    started from, with the limits, dialect and strategy it ran with."""
    return _research_input(
        question=state["question"],
        limits=ResearchLimits(**state.get("limits", {})),
        protocol=state.get("protocol", "tongyi"),
        strategy=state.get("strategy", "react"),
        resume_state=state,
        resumed_from=resumed_from,
        tenant=tenant,
    )


def fork_input(settings: Settings, fork: ForkFrom, options: ForkOptions) -> ResearchInput:
    """A fork's input, before `stamp`: the original's limits, sampling, files, dialect and
    strategy unless changed; its own budget (its tenant's default), prices and report."""
    state = fork.state
    question = options.question if options.question is not None else state.get("question", "")
    check_question_size(settings, question)
    owner = options.tenant or DEFAULT_TENANT
    tenant = tenant_budgets(settings.tenant_budgets_file).of(owner)
    return _research_input(
        question=question,
        limits=ResearchLimits(**state.get("limits", {})),
        sampling=Sampling(**state.get("sampling", {})),
        files=dict(state.get("files") or {}),
        protocol=options.dialect or state.get("protocol", "tongyi"),
        strategy=options.strategy or state.get("strategy", "react"),
        budget=Budget().capped(tenant.session),
        on_budget=tenant.on_budget or "answer",
        prices=price_table(settings.prices).of(
            options.model or state.get("model") or settings.model or ""
        ),
        tenant=owner,
        tenant_watch_seconds=settings.tenant_watch_seconds if period_bounded(tenant) else 0,
        report=options.report,
        fork=fork,
    )


def eval_input(
    settings: Settings,
    run_id: str,
    items: list[EvalItem],
    template: ResearchInput,
    *,
    rollouts: int,
    concurrency: int,
    scheme: str,
    skip: list[str] | None = None,
) -> EvalInput:
    """An evaluation run: every session starts from `template` (stamped, with this deployment's
    limits), so eval honours the same limits and retry settings as `ask`."""
    return EvalInput(
        run_id=run_id,
        questions=items,
        rollouts=rollouts,
        concurrency=concurrency,
        scheme=scheme,
        session=template,
        task_queue=settings.task_queue,
        skip=skip or [],
    )
