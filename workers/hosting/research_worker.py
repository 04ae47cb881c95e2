"""The research worker: hosts ResearchWorkflow and the graph's activities (queue `research`)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from openai import AsyncOpenAI
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.langgraph import LangGraphPlugin
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import TLSConfig
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities import context
from activities.blobstore import BlobStore, open_blob_store
from activities.cache import ResearchCache
from activities.claimcheck import ClaimCheckCodec
from activities.context import ExtractSampling, ModelEndpoint, ModelReplica, ToolContext
from activities.errors import ConfigurationError
from activities.heartbeat import KeepAlive
from activities.heavy import branch_report, integrate
from activities.judge import install_judge, judge_activity
from activities.plan import draft_plan
from activities.report import write_report
from activities.schedules import ScheduledRuns
from activities.tenants import TenantBudgets
from activities.webhooks import deliver
from workers.client.schedules import compare_runs
from workers.client.usage import tenant_over
from workers.config import Settings
from workers.hosting.blobs import blob_store
from workers.hosting.failures import BoundedFailureConverter
from workers.hosting.inference_worker import InferencePool
from workers.hosting.intake import POLLS, Intake
from workers.hosting.sandbox import CompiledSandboxedWorkflowRunner
from workers.hosting.sticky import ReleaseSticky
from workers.workflows.evaluation import EvalWorkflow
from workers.workflows.graph import GRAPH_NAME, make_research_graph, provider_queue
from workers.workflows.heavy import HeavyWorkflow
from workers.workflows.research import ResearchWorkflow
from workers.workflows.webhooks import WebhookWorkflow


def data_converter(store: BlobStore | Path) -> DataConverter:
    """Pydantic JSON payloads through the claim-check codec (every client and worker of a
    namespace must share the blob store)."""
    codec = ClaimCheckCodec(open_blob_store(None, store) if isinstance(store, Path) else store)
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=BoundedFailureConverter,
    )


def plugin(settings: Settings) -> LangGraphPlugin:
    return LangGraphPlugin(graphs={GRAPH_NAME: make_research_graph(settings)})


_runtimes: dict[int | None, Runtime] = {}


def runtime(metrics_port: int | None = None) -> Runtime:
    """This process's Temporal runtime: the SDK core's own warnings go to Python logging (the
    CLI's log file), not straight to stderr over the live view; with `metrics_port` it serves
    Prometheus metrics (SDK's and ours) there."""
    if metrics_port not in _runtimes:
        forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
        logs = LoggingConfig(filter=TelemetryFilter("WARN", "ERROR"), forwarding=forwarding)
        metrics = None
        if metrics_port is not None:
            metrics = PrometheusConfig(bind_address=f"0.0.0.0:{metrics_port}")
        _runtimes[metrics_port] = Runtime(telemetry=TelemetryConfig(logging=logs, metrics=metrics))
    return _runtimes[metrics_port]


def _pem(name: str, path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        data = path.expanduser().read_bytes()
    except OSError as error:
        raise ConfigurationError(
            f"invalid setting {name}: cannot read {path}: {error.strerror or error}"
        ) from None
    if b"-----BEGIN " not in data:
        raise ConfigurationError(f"invalid setting {name}: {path} is not a PEM file")
    return data


def connection_options(settings: Settings) -> dict[str, Any]:
    """`Client.connect` arguments for TLS, mTLS and API keys from TEMPORAL_TLS_* and
    TEMPORAL_API_KEY (pure apart from reading the PEM files); ConfigurationError in one line."""
    s = settings
    if (s.temporal_tls_cert is None) != (s.temporal_tls_key is None):
        given, missing = (
            ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY")
            if s.temporal_tls_key is None
            else ("TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CERT")
        )
        raise ConfigurationError(
            f"invalid setting {missing}: {given} is set; mTLS needs both the client "
            "certificate and its key"
        )
    cert = _pem("TEMPORAL_TLS_CERT", s.temporal_tls_cert)
    key = _pem("TEMPORAL_TLS_KEY", s.temporal_tls_key)
    ca = _pem("TEMPORAL_TLS_CA", s.temporal_tls_ca)
    api_key = s.temporal_api_key.get_secret_value() if s.temporal_api_key else None
    configured = cert is not None or ca is not None or s.temporal_tls_server_name is not None
    if s.temporal_tls is False and (configured or api_key):
        raise ConfigurationError(
            "invalid setting TEMPORAL_TLS: it is off, but TEMPORAL_TLS_* or TEMPORAL_API_KEY "
            "is set (an API key must not travel in plain text)"
        )
    tls: bool | TLSConfig = bool(s.temporal_tls) or api_key is not None
    if configured:
        tls = TLSConfig(
            server_root_ca_cert=ca,
            domain=s.temporal_tls_server_name,
            client_cert=cert,
            client_private_key=key,
        )
    return {"namespace": s.temporal_namespace, "tls": tls, "api_key": api_key}


async def connect(settings: Settings, address: str, metrics_port: int | None = None) -> Client:
    """A client whose payloads pass through the claim-check codec (same blob store as workers),
    on this process's runtime, with the deployment's TLS and API key. Checks first that the
    blob store answers (a one-line BlobStoreError otherwise)."""
    options = connection_options(settings)
    store = blob_store(settings)
    await store.check()
    return await Client.connect(
        address, data_converter=data_converter(store), runtime=runtime(metrics_port), **options
    )


def _endpoint(base_url: str, key: str, model: str, settings: Settings) -> ModelEndpoint:
    timeout = settings.model_timeout_seconds
    client = AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=timeout)
    return ModelEndpoint(
        client=client,
        model=model,
        stall_seconds=settings.model_stall_seconds,
        stream=settings.model_stream,
    )


def derived_endpoint(
    settings: Settings,
    base_url: str | None = None,
    key: SecretStr | None = None,
    model: str | None = None,
) -> ModelEndpoint:
    """A model endpoint whose unset parts default to the research endpoint's (the extraction
    and judge models are configured that way)."""
    research_url, research_model = settings.require_model()
    secret = (key or settings.openai_api_key).get_secret_value()
    return _endpoint(base_url or research_url, secret, model or research_model, settings)


def replica_endpoint(
    settings: Settings, base_url: str, model: str, key: SecretStr | None = None
) -> ModelEndpoint:
    """One model server fronted by `deepresearch inference-worker` (key default
    OPENAI_API_KEY)."""
    secret = (key or settings.openai_api_key).get_secret_value()
    return _endpoint(base_url, secret, model, settings)


def research_endpoint(settings: Settings) -> ModelEndpoint:
    return derived_endpoint(settings)


def judge_endpoint(settings: Settings) -> ModelEndpoint:
    return derived_endpoint(
        settings, settings.judge_base_url, settings.judge_api_key, settings.judge_model
    )


def build_tool_context(settings: Settings, http: httpx.AsyncClient) -> ToolContext:
    research = research_endpoint(settings)
    extract = derived_endpoint(
        settings, settings.extract_base_url, settings.extract_api_key, settings.extract_model
    )
    return ToolContext(
        http=http,
        research_model=research,
        extract_model=extract,
        blobs=blob_store(settings),
        serper_url=settings.serper_base_url,
        serper_key=settings.serper_api_key.get_secret_value() if settings.serper_api_key else None,
        jina_url=settings.jina_base_url,
        jina_key=settings.jina_api_key.get_secret_value() if settings.jina_api_key else None,
        jina_keyless=settings.jina_keyless,
        allow_loopback=settings.allow_loopback,
        sandbox_fusion_urls=tuple(
            url.strip() for url in (settings.sandbox_fusion_url or "").split(",") if url.strip()
        ),
        python_allow_network=settings.python_allow_network,
        dashscope_url=settings.dashscope_base_url,
        dashscope_key=(
            settings.dashscope_api_key.get_secret_value() if settings.dashscope_api_key else None
        ),
        search_backend=settings.search_backend,
        searxng_url=settings.searxng_url,
        index_dir=str(settings.corpus_dir),
        extract_sampling=ExtractSampling(
            temperature=settings.extract_temperature,
            top_p=settings.extract_top_p,
            presence_penalty=settings.extract_presence_penalty,
            max_tokens=settings.extract_max_tokens,
        ),
        webhook_secrets=settings.webhook_secrets,
        cache=research_cache(settings),
    )


def research_cache(settings: Settings) -> ResearchCache:
    """The shared research cache over the deployment's blob store."""
    return ResearchCache(
        blob_store(settings), ttl=settings.cache_ttls, shared=settings.cache_shared
    )


async def tenant_over_now(client: Client, settings: Settings, tenant: str) -> str | None:
    """The tenant budget check of its running sessions (`tenant.over_budget`), this worker's
    DEEPRESEARCH_TENANT_BUDGETS against the usage memos."""
    return await tenant_over(client, settings, tenant, datetime.now(UTC))


@asynccontextmanager
async def research_worker(
    settings: Settings, client: Client, inference: bool = True
) -> AsyncIterator[Worker]:
    """A running worker; activities get their clients from the installed ToolContext. With
    `inference`, it also fronts the configured model endpoint as replica `local` (the one-process
    set-up; production runs `deepresearch inference-worker`s instead)."""
    timeout = httpx.Timeout(settings.tool_timeout_seconds, connect=10)
    async with httpx.AsyncClient(
        timeout=timeout, headers={"User-Agent": "deepresearch/0.1"}
    ) as http:
        context.install(build_tool_context(settings, http))
        install_judge(judge_endpoint(settings))
        intake = Intake(settings.activity_intake)
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[ResearchWorkflow, EvalWorkflow, HeavyWorkflow, WebhookWorkflow],
            activities=[
                judge_activity,
                branch_report,
                integrate,
                write_report,
                draft_plan,
                TenantBudgets(partial(tenant_over_now, client, settings)).over_budget,
                ScheduledRuns(partial(compare_runs, client)).compare,
                deliver,
            ],
            plugins=[plugin(settings)],
            # every activity heartbeats while it runs; a retry after a lost worker frees its session
            interceptors=[KeepAlive(), ReleaseSticky(), intake],
            # The sandbox re-imports workflow modules per run and guards every activation:
            # ~25 % of the worker's CPU (docs/benchmarks.md), less with its glue code compiled
            # once (workers/hosting/sandbox.py). The replay tests run in the same runner.
            workflow_runner=(
                CompiledSandboxedWorkflowRunner()
                if settings.workflow_sandbox
                else UnsandboxedWorkflowRunner()
            ),
            tuner=intake.tuner(settings.max_concurrent_activities),
            max_concurrent_activity_task_polls=POLLS,
            graceful_shutdown_timeout=timedelta(seconds=10),
            # A dead worker's cached session moves to another worker after this long.
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_seconds),
        )
        # one worker per rate-limited provider, on the provider's queue: each sets the
        # queue's rate, which the server holds across every worker polling it
        paced = [
            Worker(
                client,
                task_queue=provider_queue(settings, provider),
                plugins=[plugin(settings)],
                interceptors=[KeepAlive(), ReleaseSticky()],  # the intake lends the main slots
                max_task_queue_activities_per_second=rate,
                max_concurrent_activity_task_polls=POLLS,
                graceful_shutdown_timeout=timedelta(seconds=10),
            )
            for provider, rate in settings.provider_rates.items()
        ]
        stop = asyncio.Event()
        pool = (
            asyncio.create_task(
                InferencePool(
                    client,
                    ModelReplica(research_endpoint(settings), "local"),
                    max_concurrent=settings.local_max_concurrent,
                    queue=settings.llm_queue,
                    intake=intake,
                ).run(stop)
            )
            if inference
            else None
        )
        try:
            async with AsyncExitStack() as running:
                for extra in paced:
                    await running.enter_async_context(extra)
                async with worker:
                    yield worker
        finally:
            stop.set()
            if pool is not None:
                await pool


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_worker(settings: Settings, client: Client, inference: bool = True) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully (in-flight activities get 10 s)."""
    stop = stop_on_signals()
    async with research_worker(settings, client, inference):
        await stop.wait()


async def run_inference_worker(
    settings: Settings, client: Client, replica: ModelReplica, max_concurrent: int
) -> None:
    """`deepresearch inference-worker`: one replica's pool until SIGTERM/SIGINT."""
    pool = InferencePool(
        client, replica, max_concurrent, settings.llm_queue, Intake(settings.activity_intake)
    )
    await pool.run(stop_on_signals())
