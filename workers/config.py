"""Settings from the environment (the only place that reads it); secrets live only here."""

from __future__ import annotations

import math
import os
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.errors import ConfigurationError
from graphs.prompts import EXTRACTOR_TEMPERATURE

if TYPE_CHECKING:  # the cache's package loads the blob store: only when settings are read
    from activities.cache import CacheTtl

DEFAULT_SERPER_URL = "https://google.serper.dev"
DEFAULT_JINA_URL = "https://r.jina.ai"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


# The providers DEEPRESEARCH_RATE_LIMITS knows, and the graph's tool nodes that call each.
RATE_LIMITED = {"serper": ("search", "scholar"), "jina": ("read", "fetch")}


def named_values(text: str, names: Collection[str], unknown: str) -> dict[str, str]:
    """`a=1, b=2` -> {"a": "1", "b": "2"}: names case-folded, empty entries skipped; a name
    not in `names` is ValueError(`unknown`, formatted with the name)."""
    found: dict[str, str] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, _, value = entry.partition("=")
        name = name.strip().lower()
        if name not in names:
            raise ValueError(unknown.format(name=name))
        found[name] = value
    return found


def parse_rates(value: str) -> dict[str, float]:
    """`serper=5,jina=10` -> {"serper": 5.0, "jina": 10.0}; ValueError naming what is wrong."""
    rates: dict[str, float] = {}
    unknown = "unknown provider {name!r}: use " + ", ".join(RATE_LIMITED)
    for name, number in named_values(value, RATE_LIMITED, unknown).items():
        try:
            rate = float(number)
        except ValueError:
            rate = float("nan")
        if not 0 < rate <= 10_000:  # also nan, inf
            raise ValueError(f"{name}: give requests per second, a number above 0 (got {number!r})")
        rates[name] = rate
    return rates


MAX_DURATION = 7 * 24 * 3600  # a week: any timeout, budget or delay beyond is a typo (or inf)


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> float:
    """'90', '90s', '30m', '24h', '7d' -> seconds; ValueError (one line) for anything else."""
    value, scale = text.strip().lower(), 1
    if value[-1:] in UNITS:
        value, scale = value[:-1], UNITS[value[-1]]
    try:
        seconds = float(value) * scale
    except ValueError:
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(
            f"{text[:40]!r} is not a duration: use seconds or a number with s, m, h or d"
        )
    return seconds


MAX_TTL = 30 * 86400  # past a month a cached page is an archive, not a cache (or a typo)
TTL_OFF = ("0", "off", "none", "no", "false")


def _ttl_seconds(text: str, what: str) -> float:
    value, scale = text.strip().lower(), 1
    if value in TTL_OFF:
        return 0.0
    if value[-1:] in UNITS:
        value, scale = value[:-1], UNITS[value[-1]]
    try:
        seconds = float(value) * scale
    except ValueError:
        seconds = math.nan
    if not (0 <= seconds <= MAX_TTL and math.isfinite(seconds)):
        raise ValueError(
            f"{what}{text.strip()[:40]!r} is not a TTL: use seconds or a number with s, m, h "
            "or d (at most 30d), or off"
        )
    return seconds


def parse_ttl(text: str) -> CacheTtl:
    """`search=0,pages=6h` (either part alone keeps the other's default), one duration for
    both (`2h`), or `off`; ValueError in one line for anything else."""
    from activities.cache import CacheTtl

    text = text.strip()
    if not text:
        return CacheTtl()
    if "=" not in text:
        both = _ttl_seconds(text, "")
        return CacheTtl(search=both, pages=both)
    unknown = "unknown part {name!r}: use search=DURATION,pages=DURATION"
    given = named_values(text, ("search", "pages"), unknown)
    return CacheTtl(**{name: _ttl_seconds(value, f"{name}: ") for name, value in given.items()})


class Settings(BaseSettings):
    """Every variable in the README's configuration table."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", populate_by_name=True, allow_inf_nan=False
    )

    @field_validator("temporal_address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        """host:port, as Temporal's client wants it (checked here, not deep inside it)."""
        if value is None or not value.strip():
            return None
        host, _, port = value.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536 or " " in host:
            raise ValueError("must be host:port, e.g. localhost:7233")
        return value.strip()

    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    openai_api_key: SecretStr = Field(SecretStr("EMPTY"), validation_alias=_env("OPENAI_API_KEY"))
    model: str | None = Field(None, validation_alias=_env("DEEPRESEARCH_MODEL"))
    protocol: Literal["tongyi", "openai"] = Field(
        "tongyi", validation_alias=_env("DEEPRESEARCH_PROTOCOL")
    )
    extract_base_url: str | None = Field(
        None, validation_alias=_env("DEEPRESEARCH_EXTRACT_BASE_URL")
    )
    extract_api_key: SecretStr | None = Field(
        None, validation_alias=_env("DEEPRESEARCH_EXTRACT_API_KEY")
    )
    extract_model: str | None = Field(None, validation_alias=_env("DEEPRESEARCH_EXTRACT_MODEL"))
    # Sampling of the extraction calls, apart from the research model's: the reference sends
    # only temperature 0.7; the others are not sent unless set.
    extract_temperature: float | None = Field(
        EXTRACTOR_TEMPERATURE, ge=0, validation_alias=_env("DEEPRESEARCH_EXTRACT_TEMPERATURE")
    )
    extract_top_p: float | None = Field(
        None, gt=0, le=1, validation_alias=_env("DEEPRESEARCH_EXTRACT_TOP_P")
    )
    extract_presence_penalty: float | None = Field(
        None, validation_alias=_env("DEEPRESEARCH_EXTRACT_PRESENCE_PENALTY")
    )
    extract_max_tokens: int | None = Field(
        None, ge=1, validation_alias=_env("DEEPRESEARCH_EXTRACT_MAX_TOKENS")
    )
    judge_base_url: str | None = Field(None, validation_alias=_env("DEEPRESEARCH_JUDGE_BASE_URL"))
    judge_api_key: SecretStr | None = Field(
        None, validation_alias=_env("DEEPRESEARCH_JUDGE_API_KEY")
    )
    judge_model: str | None = Field(None, validation_alias=_env("DEEPRESEARCH_JUDGE_MODEL"))
    serper_api_key: SecretStr | None = Field(None, validation_alias=_env("SERPER_API_KEY"))
    serper_base_url: str = Field(DEFAULT_SERPER_URL, validation_alias=_env("SERPER_BASE_URL"))
    jina_api_key: SecretStr | None = Field(None, validation_alias=_env("JINA_API_KEY"))
    jina_base_url: str = Field(DEFAULT_JINA_URL, validation_alias=_env("JINA_BASE_URL"))
    jina_keyless: bool = Field(False, validation_alias=_env("DEEPRESEARCH_JINA_KEYLESS"))
    sandbox_fusion_url: str | None = Field(None, validation_alias=_env("SANDBOX_FUSION_URL"))
    python_allow_network: bool = Field(
        False, validation_alias=_env("DEEPRESEARCH_PYTHON_ALLOW_NETWORK")
    )
    dashscope_api_key: SecretStr | None = Field(None, validation_alias=_env("DASHSCOPE_API_KEY"))
    dashscope_base_url: str = Field(
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        validation_alias=_env("DASHSCOPE_BASE_URL"),
    )
    search_backend: Literal["", "serper", "searxng", "ddgs", "local"] = Field(
        "", validation_alias=_env("DEEPRESEARCH_SEARCH")
    )
    searxng_url: str | None = Field(None, validation_alias=_env("SEARXNG_URL"))
    index_dir: Path | None = Field(None, validation_alias=_env("DEEPRESEARCH_INDEX_DIR"))
    temporal_address: str | None = Field(None, validation_alias=_env("TEMPORAL_ADDRESS"))
    temporal_namespace: str = Field("default", validation_alias=_env("TEMPORAL_NAMESPACE"))
    task_queue: str = Field("research", validation_alias=_env("DEEPRESEARCH_TASK_QUEUE"))
    llm_queue: str = Field("llm", validation_alias=_env("DEEPRESEARCH_LLM_QUEUE"))
    data_dir: Path = Field(
        Path.home() / ".deepresearch", validation_alias=_env("DEEPRESEARCH_DATA_DIR")
    )
    allow_loopback: bool = Field(False, validation_alias=_env("DEEPRESEARCH_ALLOW_LOOPBACK"))
    max_llm_calls: int = Field(100, ge=1, validation_alias=_env("DEEPRESEARCH_MAX_LLM_CALLS"))
    # The research call's max_tokens (the reference sends 10,000); a small local server with a
    # short context window needs less.
    max_tokens: int = Field(10_000, ge=1, validation_alias=_env("DEEPRESEARCH_MAX_TOKENS"))
    max_context_tokens: int = Field(
        110 * 1024, ge=1024, validation_alias=_env("DEEPRESEARCH_MAX_CONTEXT_TOKENS")
    )
    wall_clock_minutes: float = Field(
        150, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_WALL_CLOCK_MINUTES")
    )
    # Every activity heartbeats in the background while it runs (activities/heartbeat.py), so
    # a short timeout costs a healthy slow call nothing and a dead worker's call retries soon.
    heartbeat_seconds: float = Field(
        3, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_HEARTBEAT_SECONDS")
    )
    model_timeout_seconds: float = Field(
        600, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_MODEL_TIMEOUT_SECONDS")
    )
    tool_timeout_seconds: float = Field(
        60, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_TOOL_TIMEOUT_SECONDS")
    )
    sticky_seconds: float = Field(
        5, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_STICKY_SECONDS")
    )
    history_events: int = Field(
        10_000, ge=100, validation_alias=_env("DEEPRESEARCH_HISTORY_EVENTS")
    )
    history_bytes: int = Field(
        20 * 1024 * 1024, ge=64 * 1024, validation_alias=_env("DEEPRESEARCH_HISTORY_BYTES")
    )
    local_max_concurrent: int = Field(
        8, ge=1, validation_alias=_env("DEEPRESEARCH_LOCAL_MAX_CONCURRENT")
    )
    # Tool activities in flight on one research worker. They wait on the network (the page
    # extraction on a model), so the SDK's default of 100 capped a busy worker, and an activity
    # that finds no free slot is not run eagerly but goes through a poll (docs/benchmarks.md).
    max_concurrent_activities: int = Field(
        1000, ge=1, validation_alias=_env("DEEPRESEARCH_MAX_CONCURRENT_ACTIVITIES")
    )
    # Activity tasks a worker process takes before its event loop has started them: the rest
    # wait on the server, where their heartbeat clock has not started (workers/hosting/intake.py).
    activity_intake: int = Field(16, ge=1, validation_alias=_env("DEEPRESEARCH_ACTIVITY_INTAKE"))
    model_wait_seconds: float = Field(
        1800, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_MODEL_WAIT_SECONDS")
    )
    affinity_seconds: float = Field(
        5, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_AFFINITY_SECONDS")
    )
    model_attempts: int = Field(10, ge=1, validation_alias=_env("DEEPRESEARCH_MODEL_ATTEMPTS"))
    tool_attempts: int = Field(5, ge=1, validation_alias=_env("DEEPRESEARCH_TOOL_ATTEMPTS"))
    retry_initial_seconds: float = Field(
        1.0, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_RETRY_INITIAL_SECONDS")
    )
    # -- codec server (workers/hosting/codec_server.py; docs/operations.md) --
    codec_origins: str = Field(
        "http://127.0.0.1:8233,http://localhost:8233",
        validation_alias=_env("DEEPRESEARCH_CODEC_ORIGINS"),
    )
    """Comma-separated browser origins (the Temporal UI's) the codec server answers."""
    codec_hosts: str = Field("", validation_alias=_env("DEEPRESEARCH_CODEC_HOSTS"))
    """Comma-separated Host names it serves (empty: loopback and its bind address; `*`: any)."""
    codec_token: SecretStr | None = Field(None, validation_alias=_env("DEEPRESEARCH_CODEC_TOKEN"))
    """When set, codec requests need `Authorization: Bearer <token>`."""
    codec_max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, validation_alias=_env("DEEPRESEARCH_CODEC_MAX_BODY_BYTES")
    )
    codec_max_decoded_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, validation_alias=_env("DEEPRESEARCH_CODEC_MAX_DECODED_BYTES")
    )
    """Most bytes one /decode request's payloads may inflate to."""
    codec_read_timeout_seconds: float = Field(
        10, gt=0, validation_alias=_env("DEEPRESEARCH_CODEC_READ_TIMEOUT_SECONDS")
    )
    # The HTTP API (`deepresearch api`): bearer keys, comma-separated; with none it serves
    # loopback only. CORS origins (comma-separated) that may call it from a browser.
    api_keys: SecretStr | None = Field(None, validation_alias=_env("DEEPRESEARCH_API_KEYS"))
    """Comma-separated `KEY` (tenant `default`) or `TENANT=KEY` entries."""
    api_keys_file: Path | None = Field(None, validation_alias=_env("DEEPRESEARCH_API_KEYS_FILE"))
    """One `TENANT=KEY` a line (`#` comments), read again whenever it changes."""
    admin_tenants: str = Field("", validation_alias=_env("DEEPRESEARCH_ADMIN_TENANTS"))
    """Tenants that see every tenant's sessions (comma-separated)."""
    api_cors_origins: str = Field("", validation_alias=_env("DEEPRESEARCH_API_CORS_ORIGINS"))
    # -- the boundary of the API and MCP over HTTP (workers/boundary; operations.md "Threat
    # model") --
    allowed_hosts: str = Field("", validation_alias=_env("DEEPRESEARCH_ALLOWED_HOSTS"))
    """Host names the API and MCP over HTTP answer (comma-separated, `*` any); unset: the
    loopback names (and the bound address) without keys, any name with keys."""
    api_max_body_bytes: int = Field(
        1024 * 1024, ge=1024, validation_alias=_env("DEEPRESEARCH_API_MAX_BODY_BYTES")
    )
    """Largest request body that is not a file upload (JSON, forms, MCP messages)."""
    max_question_bytes: int = Field(
        32 * 1024, ge=64, validation_alias=_env("DEEPRESEARCH_MAX_QUESTION_BYTES")
    )
    """Longest question (UTF-8 bytes) a session accepts, from any interface."""
    upload_max_request_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        validation_alias=_env("DEEPRESEARCH_UPLOAD_MAX_REQUEST_BYTES"),
    )
    """Most bytes one multipart request (all its files together) may send."""
    upload_quota_bytes: int = Field(
        10 * 1024**3, ge=1024, validation_alias=_env("DEEPRESEARCH_UPLOAD_QUOTA_BYTES")
    )
    """Most bytes of uploaded files the blob store holds; an upload past it is refused (413)."""
    web_session_hours: float = Field(
        168, gt=0, le=MAX_DURATION / 3600, validation_alias=_env("DEEPRESEARCH_WEB_SESSION_HOURS")
    )
    """How long a web page sign-in lasts (sign-out ends it at once)."""
    rate_limits: str = Field("", validation_alias=_env("DEEPRESEARCH_RATE_LIMITS"))
    """Requests per second per provider across the whole cluster, e.g. `serper=5,jina=10`
    (Temporal's task-queue rate limit on a queue of the provider's own)."""

    @field_validator("rate_limits")
    @classmethod
    def _rates(cls, value: str) -> str:
        parse_rates(value)  # ValueError, one line, before any worker starts
        return value

    @property
    def provider_rates(self) -> dict[str, float]:
        return parse_rates(self.rate_limits)

    prices: str = Field("", validation_alias=_env("DEEPRESEARCH_PRICES"))
    """JSON: per model the USD per 1M prompt and completion tokens, per search and per page
    read (`{"models": {"NAME": {"prompt": 0.1, "completion": 0.4}}, "search": 0.001, "page":
    0.0005}`); what budgets in dollars and `usage` count."""
    tenant_budgets_file: Path | None = Field(
        None, validation_alias=_env("DEEPRESEARCH_TENANT_BUDGETS")
    )
    """A TOML or JSON file of tenant budgets (session default and ceiling, per day, per
    month); read at each start, so edits apply without a restart."""
    tenant_watch_seconds: float = Field(
        60, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_TENANT_WATCH_SECONDS")
    )
    """How often a running session of a tenant with a day or month budget checks it (and
    pauses while it is spent); the workers need the same DEEPRESEARCH_TENANT_BUDGETS."""

    @field_validator("prices")
    @classmethod
    def _prices(cls, value: str) -> str:
        from workers.client.budgets import price_table  # the table's model lives there

        try:
            price_table(value)
        except ConfigurationError as error:
            prefix = "invalid setting DEEPRESEARCH_PRICES: "
            raise ValueError(str(error).removeprefix(prefix)) from None
        return value

    # -- plans (`ask --plan`; docs/operations.md "Plans") --
    plan_wait: float = Field(
        24 * 3600, gt=0, le=MAX_DURATION * 4, validation_alias=_env("DEEPRESEARCH_PLAN_WAIT")
    )
    """How long a session that drafted a plan waits for its approval before it goes on with
    its own plan: seconds, or a number with s, m, h or d (`24h`)."""

    @field_validator("plan_wait", "schedule_min_interval", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return duration_seconds(value) if isinstance(value, str) else value

    # -- schedules (`deepresearch schedule`; docs/operations.md "Schedules") --
    schedule_min_interval: float = Field(
        300, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_SCHEDULE_MIN_INTERVAL")
    )
    """The shortest `--every` a schedule may take: seconds, or a number with s, m, h or d."""

    # -- webhooks (activities/webhooks.py; docs/operations.md "Webhooks") --
    webhook_url: str = Field("", validation_alias=_env("DEEPRESEARCH_WEBHOOK_URL"))
    """Where every session that names no webhook announces its end (unset: nowhere)."""
    webhook_secret: SecretStr | None = Field(
        None, validation_alias=_env("DEEPRESEARCH_WEBHOOK_SECRET")
    )
    """The Standard Webhooks signing secret, `whsec_<base64>`, or `TENANT=whsec_...` entries;
    the workers sign with it, the starters only check that one is set."""
    webhook_hours: float = Field(
        24, gt=0, le=24 * 30, validation_alias=_env("DEEPRESEARCH_WEBHOOK_HOURS")
    )
    """How long a delivery is retried (backoff up to an hour between attempts)."""
    public_url: str = Field("", validation_alias=_env("DEEPRESEARCH_PUBLIC_URL"))
    """The API's address as receivers reach it, for the links in a webhook's body."""

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        from activities.webhooks import parse_secrets

        if value is not None:
            try:
                parse_secrets(value.get_secret_value())
            except ConfigurationError as error:
                raise ValueError(str(error).split(": ", 1)[1]) from None
        return value

    @property
    def webhook_secrets(self) -> dict[str, bytes]:
        from activities.webhooks import parse_secrets

        return parse_secrets(self.webhook_secret.get_secret_value()) if self.webhook_secret else {}

    # -- blob store (activities/blobstore*.py; docs/deployment.md "The blob store") --
    blob_url: str | None = Field(None, validation_alias=_env("DEEPRESEARCH_BLOB_URL"))
    """s3://bucket/prefix (gs://, az:// too): the object store every process shares; unset:
    the directory DEEPRESEARCH_DATA_DIR/blobs. Credentials: the provider's own variables."""
    blob_retry_seconds: float = Field(
        30, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_BLOB_RETRY_SECONDS")
    )
    """How long one blob read or write retries (backoff with jitter) before it fails."""
    aws_endpoint_url: str | None = Field(
        None, validation_alias=_env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    )
    """An S3-compatible endpoint (MinIO, R2, moto); unset: AWS itself."""
    aws_region: str | None = Field(None, validation_alias=_env("AWS_REGION", "AWS_DEFAULT_REGION"))
    aws_access_key_id: str | None = Field(None, validation_alias=_env("AWS_ACCESS_KEY_ID"))
    aws_secret_access_key: SecretStr | None = Field(
        None, validation_alias=_env("AWS_SECRET_ACCESS_KEY")
    )
    """With AWS_ACCESS_KEY_ID: static credentials; both unset: obstore's chain (web identity,
    ECS, instance profile)."""
    aws_session_token: SecretStr | None = Field(None, validation_alias=_env("AWS_SESSION_TOKEN"))
    aws_allow_http: bool = Field(False, validation_alias=_env("AWS_ALLOW_HTTP"))
    """Allow a plain-http endpoint (a local MinIO); obstore refuses http otherwise."""
    # -- the research cache (activities/cache; docs/operations.md "The research cache") --
    cache_ttl: str = Field("search=0,pages=6h", validation_alias=_env("DEEPRESEARCH_CACHE_TTL"))
    """How long fetched research is served again: `search=DURATION,pages=DURATION` (pages
    also covers their extractions), one duration for both, or `off`; 0 turns that half off."""
    cache_shared: bool = Field(True, validation_alias=_env("DEEPRESEARCH_CACHE_SHARED"))
    """Whether public web results (searches, pages of public hosts) serve every tenant; off:
    each tenant has its own. Private pages (loopback, private or unresolvable hosts) are always
    the tenant's own."""

    @field_validator("cache_ttl")
    @classmethod
    def _cache_ttl(cls, value: str) -> str:
        parse_ttl(value)  # ValueError, one line, before any worker starts
        return value

    @property
    def cache_ttls(self) -> CacheTtl:
        return parse_ttl(self.cache_ttl)

    # -- Temporal connection (workers/hosting/research_worker.connection_options) --
    temporal_tls: bool | None = Field(None, validation_alias=_env("TEMPORAL_TLS"))
    """Force TLS on or off; unset: on when any TEMPORAL_TLS_* or TEMPORAL_API_KEY is set."""
    temporal_tls_cert: Path | None = Field(None, validation_alias=_env("TEMPORAL_TLS_CERT"))
    """Client certificate (PEM file) for mTLS; needs TEMPORAL_TLS_KEY."""
    temporal_tls_key: Path | None = Field(None, validation_alias=_env("TEMPORAL_TLS_KEY"))
    """Client private key (PEM file) for mTLS."""
    temporal_tls_ca: Path | None = Field(None, validation_alias=_env("TEMPORAL_TLS_CA"))
    """CA bundle (PEM file) the server's certificate is checked against; unset: system roots."""
    temporal_tls_server_name: str | None = Field(
        None, validation_alias=_env("TEMPORAL_TLS_SERVER_NAME")
    )
    """The name the server's certificate must carry (and SNI), when not the address's host."""
    temporal_api_key: SecretStr | None = Field(None, validation_alias=_env("TEMPORAL_API_KEY"))
    """Temporal Cloud API key (sent as a bearer token, over TLS)."""

    @field_validator(
        "blob_url",
        "aws_endpoint_url",
        "aws_region",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "temporal_tls_server_name",
        "temporal_tls_cert",
        "temporal_tls_key",
        "temporal_tls_ca",
        "temporal_api_key",
        "temporal_tls",
        "api_keys_file",
        "tenant_budgets_file",
        "webhook_secret",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """`VAR=` in an env file means unset, as for the vendors' own tools."""
        return None if isinstance(value, str) and not value.strip() else value

    # -- orchestration cost and recovery (docs/benchmarks.md) --
    # Stream research calls (the reference does); off: plain requests, for servers that report
    # no token usage in streams (llama-cpp-python) or cannot stream at all.
    model_stream: bool = Field(True, validation_alias=_env("DEEPRESEARCH_MODEL_STREAM"))
    model_stall_seconds: float = Field(
        120, gt=0, le=MAX_DURATION, validation_alias=_env("DEEPRESEARCH_MODEL_STALL_SECONDS")
    )
    """A streamed model call that receives nothing for this long (a hung server, not a dead
    worker: heartbeats go on) fails and is retried; a long prefill stays under it."""
    workflow_sandbox: bool = Field(True, validation_alias=_env("DEEPRESEARCH_WORKFLOW_SANDBOX"))
    """Run workflow code in Temporal's sandbox (its runtime guard against non-determinism);
    off saves about 25 % of a worker's CPU per step, for operators who accept that trade."""

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def corpus_dir(self) -> Path:
        """Where `deepresearch index` writes and the `local` search backend reads."""
        return self.index_dir or self.data_dir / "index"

    def require_model(self) -> tuple[str, str]:
        """The research endpoint, or a ConfigurationError naming the variables to set."""
        missing = [
            name
            for name, value in (
                ("OPENAI_BASE_URL", self.openai_base_url),
                ("DEEPRESEARCH_MODEL", self.model),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"no model endpoint configured: set {' and '.join(missing)} "
                "(e.g. OPENAI_BASE_URL=http://localhost:8000/v1 "
                "DEEPRESEARCH_MODEL=Alibaba-NLP/Tongyi-DeepResearch-30B-A3B)"
            )
        assert self.openai_base_url and self.model
        return self.openai_base_url, self.model


def secret_from_env(name: str) -> SecretStr | None:
    """A secret from a variable the user names (`inference-worker --api-key-env NAME`)."""
    value = os.environ.get(name)
    return SecretStr(value) if value else None


def load_settings() -> Settings:
    """Settings from the environment, with validation errors as one-line ConfigurationErrors."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first.get("loc", ["?"])[0])
        field = Settings.model_fields.get(name)
        alias = getattr(field, "validation_alias", None) if field else None
        if isinstance(alias, AliasChoices) and alias.choices:
            name = str(alias.choices[0])
        message = str(first.get("msg")).removeprefix("Value error, ")
        raise ConfigurationError(f"invalid setting {name}: {message}") from None
