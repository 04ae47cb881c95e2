"""`deepresearch mcp`: an MCP server (the official SDK) over the session layer, with tools
that run, start and read research sessions and each session's report as a resource."""

from workers.mcp.backend import Backend
from workers.mcp.results import REPORT_URI, ResearchResult, ResearchStatus
from workers.mcp.server import build_server
from workers.mcp.transports import PATH, TRANSPORTS, Transport, serve_http, serve_stdio

__all__ = [
    "PATH",
    "REPORT_URI",
    "TRANSPORTS",
    "Backend",
    "ResearchResult",
    "ResearchStatus",
    "Transport",
    "build_server",
    "serve_http",
    "serve_stdio",
]
