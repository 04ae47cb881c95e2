"""Serving commands: worker, inference-worker, server, codec-server, index, api."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from workers.cli.app import CliError, app, err, out, run
from workers.config import load_settings, secret_from_env
from workers.hosting import background, devserver


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


async def _inference_worker(
    endpoint: str,
    replica: str,
    max_concurrent: int,
    model: str | None,
    metrics_port: int | None,
    api_key_env: str | None,
) -> None:
    from activities.context import ModelReplica
    from workers.client import Sessions
    from workers.hosting.research_worker import replica_endpoint, run_inference_worker

    settings = load_settings()
    _log_to_stderr()
    name = model or settings.model
    if not name:
        raise CliError("no model name: pass --model or set DEEPRESEARCH_MODEL")
    key = None
    if api_key_env:
        key = secret_from_env(api_key_env)
        if key is None:
            raise CliError(f"--api-key-env {api_key_env}: that variable is not set")
    sessions = await Sessions.connect(settings, metrics_port)
    target = ModelReplica(replica_endpoint(settings, endpoint, name, key), replica)
    err.print(
        f"inference worker {replica!r} for {endpoint} ({name}): queues "
        f"{settings.llm_queue!r} and {settings.llm_queue + '-' + replica!r}, "
        f"at most {max_concurrent} in flight"
    )
    await run_inference_worker(settings, sessions.client, target, max_concurrent)


@app.command(name="inference-worker")
def inference_worker_command(
    endpoint: Annotated[str, typer.Option(help="The model server's OpenAI-compatible base URL.")],
    replica: Annotated[str, typer.Option(help="This replica's name (its task queue).")] = "",
    max_concurrent: Annotated[
        int, typer.Option(min=1, help="Generations in flight at most (the batch capacity).")
    ] = 16,
    model: Annotated[
        str | None, typer.Option(help="Model name on this server (default DEEPRESEARCH_MODEL).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Variable holding this server's key (default OPENAI_API_KEY)."),
    ] = None,
) -> None:
    """Front one model server: take model calls from the pool while the server is healthy."""
    name = replica or re.sub(r"[^A-Za-z0-9_.-]+", "-", endpoint.split("://", 1)[-1]).strip("-")
    run(_inference_worker(endpoint, name, max_concurrent, model, metrics_port, api_key_env))


async def _worker(metrics_port: int | None, inference: bool) -> None:
    from workers.client import Sessions
    from workers.hosting.research_worker import run_worker

    settings = load_settings()
    _log_to_stderr()
    settings.require_model()
    sessions = await Sessions.connect(settings, metrics_port)
    err.print(f"research worker polling task queue {settings.task_queue!r}")
    if metrics_port is not None:
        err.print(f"Prometheus metrics on http://0.0.0.0:{metrics_port}/metrics")
    await run_worker(settings, sessions.client, inference)


@app.command(name="worker")
def worker_command(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
    inference: Annotated[
        bool,
        typer.Option(
            help="Also front OPENAI_BASE_URL as replica 'local' (--no-inference when "
            "inference workers run apart)."
        ),
    ] = True,
    status: Annotated[
        bool, typer.Option("--status", help="Say whether `ask --detach`'s worker runs.")
    ] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop `ask --detach`'s worker.")] = False,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Run this many worker processes, supervised (restarted when one dies; "
            "SIGTERM stops all gracefully); metrics ports count up from --metrics-port.",
        ),
    ] = 1,
) -> None:
    """Run a research worker until SIGTERM (graceful shutdown)."""
    if status or stop:
        run(lambda: _background(stop))
        return
    if processes > 1:
        from workers.hosting.supervisor import supervise, worker_commands

        run(lambda: load_settings().require_model())  # fail here, not N times in the children
        commands = worker_commands(processes, metrics_port, inference)
        raise typer.Exit(supervise(commands, lambda line: err.print(line, markup=False)))
    run(_worker(metrics_port, inference))


def _background(stop: bool) -> None:
    """`worker --status` / `--stop`: the background worker `ask --detach` leaves running."""
    settings = load_settings()
    if stop:
        stopped = background.stop(settings)
        out.print("stopped the background worker" if stopped else "no background worker runs")
        return
    worker = background.status(settings)
    if worker is None or not worker.alive:
        out.print("no background worker runs")
        return
    since = datetime.fromtimestamp(worker.started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    fresh = "current settings" if worker.current(settings) else "STALE settings (ask restarts it)"
    out.print(f"background worker pid {worker.pid}, running since {since}, {fresh}")


@app.command()
def index(
    folder: Annotated[Path, typer.Argument(help="A folder of documents to make searchable.")],
) -> None:
    """Build (or update) the local corpus index that the `local` search backend searches."""
    from activities.corpus import build_index

    settings = run(load_settings)
    stats = run(lambda: build_index(folder, settings.corpus_dir))
    out.print(
        f"indexed {folder} into {settings.corpus_dir}: {stats.added} added, "
        f"{stats.updated} updated, {stats.unchanged} unchanged, {stats.removed} removed; "
        f"{stats.documents} documents"
    )
    for skipped in stats.skipped:
        err.print(f"skipped {skipped}", markup=False)
    out.print("search it with DEEPRESEARCH_SEARCH=local")


@app.command(name="codec-server")
def codec_server(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    allow_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="A Temporal UI origin allowed by CORS (repeatable; replaces "
            "DEEPRESEARCH_CODEC_ORIGINS, default http://127.0.0.1:8233 and http://localhost:8233)."
        ),
    ] = None,
    allow_encode: Annotated[
        bool, typer.Option(help="Also serve /encode (it writes to the blob store).")
    ] = False,
) -> None:
    """Serve Temporal's codec endpoints so the UI and the temporal CLI decode payloads."""
    from workers.hosting.blobs import blob_store
    from workers.hosting.codec_server import CodecHTTPServer, make_server, policy_from_settings

    settings = run(load_settings)
    policy = policy_from_settings(settings, host, origins=allow_origin, allow_encode=allow_encode)

    def listen() -> CodecHTTPServer:
        try:
            return make_server(store, host, port, policy)
        except OSError as error:
            raise CliError(f"cannot listen on {host}:{port}: {error.strerror}") from None

    store = run(lambda: blob_store(settings))
    run(store.check())  # an unreachable store is one line now, not an error per UI request
    server = run(listen)
    auth = "bearer token required" if policy.token else "no token (DEEPRESEARCH_CODEC_TOKEN)"
    err.print(
        f"codec server on http://{host}:{port} (blob store {store.location}); origins "
        f"{', '.join(sorted(policy.origins))}; {auth}; /encode {'on' if allow_encode else 'off'}",
        markup=False,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


@app.command()
def server(
    port: Annotated[int, typer.Option(help="gRPC port.")] = devserver.DEFAULT_PORT,
    ui_port: Annotated[int, typer.Option(help="Web UI port.")] = devserver.DEFAULT_UI_PORT,
    codec_port: Annotated[
        int, typer.Option(help="Port of the codec server the web UI decodes payloads through.")
    ] = devserver.DEFAULT_CODEC_PORT,
) -> None:
    """Run the embedded Temporal dev server in the foreground, its UI reading payloads through
    a codec server in this process."""
    from workers.hosting.blobs import blob_store
    from workers.hosting.codec_server import (
        CodecHTTPServer,
        make_server,
        policy_from_settings,
        ui_origins,
    )

    settings = run(load_settings)
    policy = policy_from_settings(settings, "127.0.0.1", extra_origins=ui_origins(ui_port))

    def listen() -> CodecHTTPServer:
        try:
            return make_server(blob_store(settings), "127.0.0.1", codec_port, policy)
        except OSError as error:
            raise CliError(
                f"cannot listen on 127.0.0.1:{codec_port} for the codec server: "
                f"{error.strerror} (pass --codec-port)"
            ) from None

    codec = run(listen)
    err.print(
        f"Temporal dev server on 127.0.0.1:{port}, web UI http://127.0.0.1:{ui_port}, "
        f"codec server http://127.0.0.1:{codec_port}",
        markup=False,
    )
    code = run(lambda: devserver.run_foreground(Path(settings.data_dir), port, ui_port, codec))
    raise typer.Exit(code)


@app.command(name="api")
def api_command(
    host: Annotated[
        str,
        typer.Option(help="Address to bind (anything but loopback needs DEEPRESEARCH_API_KEYS)."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker", help="Also host a research worker in this process (one-machine set-up)."
        ),
    ] = False,
) -> None:
    """Serve the HTTP API, its server-sent events and the web page (sessions run on workers)."""
    from workers.api import serve

    settings = run(load_settings)
    if worker:
        run(settings.require_model)
    _log_to_stderr()
    run(serve(settings, host, port, worker))
