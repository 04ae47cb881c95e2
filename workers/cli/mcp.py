"""`deepresearch mcp`: serve the research tools to MCP clients (stdio or streamable HTTP)."""

from __future__ import annotations

from typing import Annotated

import typer

from workers.boundary import bind_error
from workers.cli.app import CliError, WorkerOption, app, err, run
from workers.config import Settings, load_settings

TRANSPORT_NAMES = ("stdio", "streamable-http")  # workers.mcp.TRANSPORTS, checked by a test


@app.command(name="mcp")
def mcp_command(
    transport: Annotated[
        str, typer.Option(help="stdio (a client spawns this command) or streamable-http.")
    ] = "stdio",
    host: Annotated[str, typer.Option(help="streamable-http: address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="streamable-http: port to listen on.")] = 8765,
    worker: WorkerOption = True,
) -> None:
    """Serve deep_research, start_research, get_research and the reports over MCP. Over HTTP
    it takes the API's keys (DEEPRESEARCH_API_KEYS, as a bearer token) and, without keys,
    binds loopback only."""

    def settings() -> Settings:
        if transport not in TRANSPORT_NAMES:
            raise CliError(f"--transport is one of {', '.join(TRANSPORT_NAMES)}")
        loaded = load_settings()
        if transport != "stdio" and (refused := bind_error(loaded, host)) is not None:
            raise CliError(refused)
        if worker:
            loaded.require_model()  # the in-process worker needs a model endpoint
        return loaded

    loaded = run(settings)
    from workers.mcp import PATH, serve_http, serve_stdio  # the MCP SDK loads only here

    try:
        if transport == "stdio":
            serve_stdio(loaded, worker=worker)
            return
        err.print(f"MCP server on http://{host}:{port}{PATH} (streamable HTTP)")
        run(serve_http(loaded, host=host, port=port, worker=worker))
    except KeyboardInterrupt:
        pass
