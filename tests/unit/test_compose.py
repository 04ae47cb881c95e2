"""The production stack description: docker-compose.yml, Dockerfile, .dockerignore.

No Docker engine is needed: `docker-compose config` validates the file without one (CI installs
Debian's docker-compose with .ci/install-docker-compose; without a compose binary that part
skips), and the rest reads the YAML."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.config import Settings
from workers.hosting import devserver

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
PROFILES = ("gpu", "remote", "admin")

# Variables of third-party images, as their vendors document them (image repository -> names).
VENDOR_VARIABLES: dict[str, set[str]] = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PGDATA"},
    # temporalio/temporal docker/config_template.yaml (the server image's configuration)
    "temporalio/server": {
        "DB",
        "DB_PORT",
        "POSTGRES_USER",
        "POSTGRES_PWD",
        "POSTGRES_SEEDS",
        "BIND_ON_IP",
        "DYNAMIC_CONFIG_FILE_PATH",
    },
    # the temporal CLI's TEMPORAL_* and temporal-sql-tool's SQL_* flags' variables
    "temporalio/admin-tools": {
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "SQL_PLUGIN",
        "SQL_HOST",
        "SQL_PORT",
        "SQL_USER",
        "SQL_PASSWORD",
    },
    "minio/minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "minio/mc": {"MC_HOST_local"},  # mc's alias-from-environment
    # temporalio/ui server/config/docker.yaml
    "temporalio/ui": {"TEMPORAL_ADDRESS", "TEMPORAL_CODEC_ENDPOINT", "TEMPORAL_CORS_ORIGINS"},
    "vllm/vllm-openai": {"HF_TOKEN"},
    # searx/settings_defaults.py
    "searxng/searxng": {"SEARXNG_SECRET", "SEARXNG_BASE_URL", "SEARXNG_LIMITER"},
    # SandboxFusion scripts/run.sh
    "volcengine/sandbox-fusion": {"HOST"},
}
# Read by the host's docker compose only, to fill in the third-party services above.
HOST_ONLY_VARIABLES = {
    "HF_TOKEN",
    "POSTGRES_PASSWORD",
    "SEARXNG_SECRET",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
}
# Set by the Dockerfile for Python and pip, not for deepresearch.
IMAGE_VARIABLES = {
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}


def known_settings() -> set[str]:
    """Every environment variable workers.config.Settings reads."""
    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None) or ([alias] if alias else [])
        names.update(choice for choice in choices if isinstance(choice, str))
    return names


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def is_ours(service: dict[str, Any]) -> bool:
    return "build" in service or str(service.get("image", "")).startswith("deepresearch")


def repository(service: dict[str, Any]) -> str:
    return str(service["image"]).rsplit(":", 1)[0]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(part) for part in cmd]


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume, short or long syntax."""
    result = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            result.append((str(volume.get("source", "")), str(volume["target"])))
        else:
            source, _, rest = str(volume).partition(":")
            result.append((source, rest.split(":")[0]) if rest else ("", source))
    return result


# -- docker-compose config --------------------------------------------------------------------


NO_COMPOSE = "neither docker-compose nor `docker compose` found (.ci/install-docker-compose)"


def compose_binary() -> list[str]:
    """docker-compose (Debian's 1.29 in CI), else the `docker compose` plugin, else skip."""
    if found := shutil.which("docker-compose"):
        return [found]
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    pytest.skip(NO_COMPOSE)


def run_config(binary: list[str], *profile: str) -> subprocess.CompletedProcess[str]:
    flags = [arg for name in profile for arg in ("--profile", name)]
    # Only PATH and HOME from this environment: the file must validate with nothing set.
    env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    return subprocess.run(
        [*binary, "-f", str(COMPOSE_FILE), *flags, "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def test_compose_config_validates() -> None:
    binary = compose_binary()
    result = run_config(binary)
    assert result.returncode == 0, result.stderr
    # every ${VAR} has a default, so an unset one is no warning and no empty required value
    assert "variable is not set" not in result.stderr, result.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_compose_config_validates_with_profile(profile: str) -> None:
    binary = compose_binary()
    usage = subprocess.run([*binary, "--help"], capture_output=True, text=True, timeout=60)
    if "--profile" not in usage.stdout + usage.stderr:
        pytest.skip(f"{' '.join(binary)} has no --profile option")
    result = run_config(binary, profile)
    assert result.returncode == 0, result.stderr


# -- variable names ---------------------------------------------------------------------------


def test_our_services_set_only_known_settings(services: dict[str, dict[str, Any]]) -> None:
    known = known_settings()
    ours = {name: service for name, service in services.items() if is_ours(service)}
    assert {"research-worker", "codec-server", "inference-worker"} <= ours.keys()
    for name, service in ours.items():
        unknown = environment(service).keys() - known
        assert not unknown, f"{name} sets variables Settings does not read: {unknown}"


def test_third_party_services_use_their_vendors_variables(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if is_ours(service):
            continue
        allowed = VENDOR_VARIABLES.get(repository(service))
        assert allowed is not None, f"{name}: no vendor variable list for {service['image']}"
        unknown = environment(service).keys() - allowed
        assert not unknown, f"{name} sets undocumented variables: {unknown}"


def test_interpolated_variables_are_known() -> None:
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text()))
    unknown = referenced - known_settings() - HOST_ONLY_VARIABLES
    assert not unknown, f"docker-compose.yml interpolates unknown variables: {unknown}"


def test_image_defaults_are_known_settings() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    names: set[str] = set()
    for block in re.findall(r"^ENV\s+((?:.*\\\n)*.*)$", dockerfile, flags=re.MULTILINE):
        names.update(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", block))
    assert "DEEPRESEARCH_DATA_DIR" in names
    unknown = names - known_settings() - IMAGE_VARIABLES
    assert not unknown, f"Dockerfile sets unknown variables: {unknown}"
    assert not any("KEY" in name for name in names), "secrets never go into the image"


# -- the blob store ---------------------------------------------------------------------------


def test_blob_store_is_one_bucket_and_no_shared_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """Every service of ours reads and writes the same MinIO bucket; none shares a volume, so
    any of them can run on another host."""
    stores = {}
    for name, service in services.items():
        env = environment(service)
        if not is_ours(service):
            assert "DEEPRESEARCH_BLOB_URL" not in env, f"{name} is not ours"
            continue
        assert env.get("DEEPRESEARCH_BLOB_URL", "").startswith("s3://"), name
        stores[name] = (env["DEEPRESEARCH_BLOB_URL"], env.get("AWS_ENDPOINT_URL"))
        assert not [s for s, _ in mounts(service) if s], f"{name} mounts a volume"
        depends = service.get("depends_on") or {}
        assert depends["blobs-bucket"]["condition"] == "service_completed_successfully", name
    assert len(set(stores.values())) == 1, f"services see different blob stores: {stores}"
    assert next(iter(stores.values()))[1] == "http://minio:9000"
    assert {"research-worker", "codec-server", "inference-worker", "mcp"} <= stores.keys()
    assert "blobs" not in (compose.get("volumes") or {})
    assert any(target == "/data" for _, target in mounts(services["minio"]))


def test_temporal_is_server_plus_setup_jobs(services: dict[str, dict[str, Any]]) -> None:
    """The current server image, a schema job before it, a namespace job after it."""
    images = {name: str(service.get("image", "")) for name, service in services.items()}
    assert not any("auto-setup" in image for image in images.values())
    assert images["temporal"].startswith("temporalio/server:")
    schema, namespace = services["temporal-schema"], services["temporal-namespace"]
    assert "update-schema" in " ".join(command(schema))
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )
    script = " ".join(command(namespace))
    assert "namespace create" in script
    # and registers the search attributes the embedded dev server registers, with their types
    loop = re.search(r"for spec in (.*?); do", script)
    assert loop is not None and "search-attribute create" in script
    args = devserver.search_attribute_args()
    assert loop.group(1).split() == args[1::2]


def test_temporal_dispatch_settings_match_the_embedded_server() -> None:
    """The compose server reads its queues as often as the embedded dev server does, and
    dispatches tool activities eagerly, as the dev server does by itself."""
    config = yaml.safe_load((REPO / "deploy/temporal/dynamicconfig/deepresearch.yaml").read_text())
    values = {key: entries[0]["value"] for key, entries in config.items()}
    for key, value in devserver.DISPATCH_CONFIG.items():
        assert values[key] == value, key
    assert values["system.enableActivityEagerExecution"] is True
    args = devserver.server_command(Path("x.db"), 1, 2)
    for key, value in devserver.DISPATCH_CONFIG.items():
        assert args[args.index(f"{key}={value}") - 1] == "--dynamic-config-value"
    for key, value in devserver.SQLITE_PRAGMAS.items():
        assert args[args.index(f"{key}={value}") - 1] == "--sqlite-pragma"


# -- GPU serving and the inference workers ----------------------------------------------------


def gpu_devices(service: dict[str, Any]) -> list[dict[str, Any]]:
    reservations = service.get("deploy", {}).get("resources", {}).get("reservations", {})
    return [d for d in reservations.get("devices", []) if "gpu" in d.get("capabilities", [])]


def test_vllm_reserves_a_gpu_and_has_a_health_check(services: dict[str, dict[str, Any]]) -> None:
    vllm = services["vllm"]
    assert vllm.get("profiles") == ["gpu"]
    devices = gpu_devices(vllm)
    assert devices and devices[0]["driver"] == "nvidia" and devices[0]["count"] == 1
    assert "/health" in " ".join(vllm["healthcheck"]["test"])
    args = command(vllm)
    assert args[args.index("--model") + 1] == "Alibaba-NLP/Tongyi-DeepResearch-30B-A3B"
    assert "--enable-prefix-caching" in args
    assert args[args.index("--max-model-len") + 1] == "131072"
    assert any(target == "/root/.cache/huggingface" for _, target in mounts(vllm))
    assert [name for name, service in services.items() if gpu_devices(service)] == ["vllm"]


def test_inference_workers_wait_for_their_endpoint(services: dict[str, dict[str, Any]]) -> None:
    workers = {
        name: service
        for name, service in services.items()
        if command(service)[:1] == ["inference-worker"]
    }
    assert workers.keys() == {"inference-worker", "inference-worker-remote"}
    for name, service in workers.items():
        args = command(service)
        endpoint = args[args.index("--endpoint") + 1]
        assert "--replica" in args and "--max-concurrent" in args
        depends = service.get("depends_on") or {}
        if endpoint.startswith("http://vllm:"):
            assert service.get("profiles") == ["gpu"], name
            assert depends["vllm"]["condition"] == "service_healthy", name
        else:
            assert service.get("profiles") == ["remote"], name
            assert "vllm" not in depends, name
        assert depends["temporal-namespace"]["condition"] == "service_completed_successfully"


def test_default_services_need_no_profile(services: dict[str, dict[str, Any]]) -> None:
    """`docker compose up` without a profile must not need a service from one."""
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert {"temporal", "temporal-ui", "research-worker", "codec-server"} <= default
    for name in default:
        depends = services[name].get("depends_on") or {}
        assert set(depends) <= default, f"{name} depends on a profiled service"


def test_our_commands_parse(services: dict[str, dict[str, Any]]) -> None:
    """Every command our services run is one `deepresearch` accepts (options, values)."""
    from typer.main import get_command

    from workers.cli import app

    group = get_command(app)
    for name, service in services.items():
        if not is_ours(service):
            continue
        args = command(service)
        assert args, f"{name} has no command"
        with group.make_context("deepresearch", list(args)) as parent:
            sub = group.get_command(parent, args[0])
            assert sub is not None, f"{name}: no `deepresearch {args[0]}`"
            try:
                sub.make_context(args[0], args[1:], parent=parent)
            except Exception as error:  # click's usage errors (typer may vendor click)
                pytest.fail(f"{name}: `deepresearch {' '.join(args)}`: {error}")


def test_research_worker(services: dict[str, dict[str, Any]]) -> None:
    worker = services["research-worker"]
    assert command(worker) == ["worker", "--metrics-port", "9464", "--no-inference"]
    assert worker["deploy"]["replicas"] == 2
    env = environment(worker)
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["SEARXNG_URL"] == "http://searxng:8080"
    assert env["SANDBOX_FUSION_URL"] == "http://sandbox-fusion:8080"
    for secret in ("SERPER_API_KEY", "JINA_API_KEY", "DASHSCOPE_API_KEY"):
        assert env[secret] == f"${{{secret}:-}}", f"{secret} must come from the host"
    assert "container_name" not in worker, "replicas need generated container names"


def test_codec_server_serves_the_ui(services: dict[str, dict[str, Any]]) -> None:
    args = command(services["codec-server"])
    assert args[0] == "codec-server"
    assert args[args.index("--allow-origin") + 1] == "http://localhost:8233"
    ui = services["temporal-ui"]
    assert "127.0.0.1:8233:8080" in ui["ports"]
    assert environment(ui)["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8081"
    assert "127.0.0.1:8081:8081" in services["codec-server"]["ports"]


# -- the image --------------------------------------------------------------------------------


def test_dockerfile_and_dockerignore() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, flags=re.MULTILINE)
    assert "pip install ." in dockerfile and "[dev]" not in dockerfile
    assert 'ENTRYPOINT ["deepresearch"]' in dockerfile
    assert "util-linux" in dockerfile
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", "tests"} <= ignored
