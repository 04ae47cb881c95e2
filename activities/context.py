"""The clients and endpoints activities use, installed once by the worker that hosts them.

Node functions must be module-level (the plugin names activities after them), so their
dependencies cannot be closed over; the worker installs a `ToolContext` instead, built from
settings in production and pointed at loopback fakes in tests. Secrets live here, never in
workflow inputs or activity payloads.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field

import httpx
from openai import AsyncOpenAI

from activities.blobstore import BlobStore
from activities.cache import ResearchCache
from activities.errors import ConfigurationError
from graphs import prompts


@dataclass(frozen=True)
class ModelEndpoint:
    """An OpenAI-compatible chat endpoint (client built with max_retries=0: Temporal retries)."""

    client: AsyncOpenAI
    model: str
    stall_seconds: float | None = None  # a stream silent this long is a hung server: retry
    stream: bool = True  # research calls stream; False: plain requests (DEEPRESEARCH_MODEL_STREAM)


@dataclass(frozen=True)
class ExtractSampling:
    """Sampling of the page-extraction calls, apart from the research model's: the reference
    sends its summary model only temperature 0.7; a field left None is not sent (the server's
    default)."""

    temperature: float | None = prompts.EXTRACTOR_TEMPERATURE
    top_p: float | None = None
    presence_penalty: float | None = None
    max_tokens: int | None = None

    def params(self) -> dict[str, float | int]:
        """The request fields to send."""
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class ToolContext:
    http: httpx.AsyncClient
    research_model: ModelEndpoint
    extract_model: ModelEndpoint
    blobs: BlobStore
    serper_url: str
    serper_key: str | None
    jina_url: str
    jina_key: str | None
    jina_keyless: bool = False  # use Jina Reader without a key (its lower rate limit)
    allow_loopback: bool = False
    page_max_bytes: int = 10 * 1024 * 1024
    # PythonInterpreter: SandboxFusion endpoints (another one on each retry); none = local sandbox
    sandbox_fusion_urls: tuple[str, ...] = ()
    python_timeout_seconds: float = 50.0  # the reference's run_timeout
    python_allow_network: bool = False  # run the local sandbox even where it cannot be isolated
    # parse_file: Dashscope for what local parsers cannot read (audio, scanned documents)
    dashscope_url: str = "https://dashscope.aliyuncs.com/compatible-mode/v1"
    dashscope_key: str | None = None
    # search backend: serper | searxng | ddgs | local; "" = automatic (serper with a key, else
    # searxng with a URL, else ddgs)
    search_backend: str = ""
    searxng_url: str | None = None
    index_dir: str | None = None  # the local corpus index (`deepresearch index DIR`)
    extract_sampling: ExtractSampling = field(default_factory=ExtractSampling)
    # webhook signing keys by tenant ("*": any other), from DEEPRESEARCH_WEBHOOK_SECRET
    webhook_secrets: dict[str, bytes] = field(default_factory=dict)
    # the shared research cache (DEEPRESEARCH_CACHE_TTL, DEEPRESEARCH_CACHE_SHARED); None: none
    cache: ResearchCache | None = None


class Slots(asyncio.Semaphore):
    """A replica's generation slots, counting those in use: a server busy answering our calls
    is not probed (llama-cpp-python's server cuts the stream it is sending short at any other
    request, its /models included)."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.in_use = 0

    async def acquire(self) -> bool:
        await super().acquire()
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1
        super().release()


@dataclass(frozen=True)
class ModelReplica:
    """The model server an inference worker fronts, the name its task queue carries, and the
    cap on generations in flight on it (its batch capacity)."""

    endpoint: ModelEndpoint
    name: str
    slots: Slots | None = None


_context: ToolContext | None = None
_replica: ModelReplica | None = None


def install_replica(replica: ModelReplica | None) -> None:
    global _replica
    _replica = replica


def current_replica() -> ModelReplica:
    if _replica is None:
        raise ConfigurationError(
            "No model replica installed: the model-call activity runs in an inference worker "
            "(`deepresearch inference-worker`, or the one `ask`/`worker` run in process)."
        )
    return _replica


def install(context: ToolContext | None) -> None:
    global _context
    _context = context


def current() -> ToolContext:
    if _context is None:
        raise ConfigurationError(
            "No ToolContext installed: activities must run in a worker built by "
            "workers.research_worker (it installs one from the environment)."
        )
    return _context
