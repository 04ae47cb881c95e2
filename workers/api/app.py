"""The FastAPI application: the /v1 routes, /healthz, the web page and its static files, the
error handlers and (with DEEPRESEARCH_API_CORS_ORIGINS) CORS, over one `Backend`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from workers.api import errors, routes, schedules, web
from workers.api.auth import Authenticator
from workers.api.backend import Backend
from workers.api.events import EventHub
from workers.api.schemas import SessionRequest
from workers.boundary import Guard, Policy
from workers.client.inputs import MAX_UPLOAD_BYTES
from workers.config import Settings

DESCRIPTION = """Durable deep-research sessions over HTTP: each session is a Temporal workflow
run by research workers, so this process can restart at any time without losing one.

Authenticate with `Authorization: Bearer <key>` (a key of `DEEPRESEARCH_API_KEYS`). Every error
is `{"error": "<one sentence>"}`."""


def upload_schema() -> dict[str, Any]:
    """The multipart form of POST /v1/sessions: the JSON body's fields, plus `files[]`."""
    fields = SessionRequest.model_json_schema()["properties"]
    properties: dict[str, Any] = {
        name: {"type": "string", "description": field.get("description", "")}
        for name, field in fields.items()
    }
    properties["limits"]["description"] = 'JSON, e.g. {"max_llm_calls": 20}'
    properties["files[]"] = {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
        "description": f"Files for parse_file, at most {MAX_UPLOAD_BYTES // 2**20} MiB each.",
    }
    return {"title": "SessionUpload", "type": "object", "required": ["question"],
            "properties": properties}  # fmt: skip


# Swagger UI sets styles inline; its scripts are ours and the wheel's, nothing else runs.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def create_app(
    settings: Settings,
    *,
    worker: bool = False,
    events_interval: float = 0.5,
    host: str = "127.0.0.1",
) -> FastAPI:
    """The API over this deployment's sessions, behind the boundary's guard for the address
    it binds (`host`); `worker` hosts a research worker in-process."""
    backend = Backend(settings, worker=worker)
    hub = EventHub(interval=events_interval)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        try:
            yield
        finally:
            hub.close()
            await backend.close()

    app = FastAPI(
        title="deepresearch",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.backend = backend
    app.state.hub = hub
    app.state.auth = Authenticator(settings)
    errors.install(app)
    app.include_router(routes.router)
    app.include_router(schedules.router)
    app.include_router(routes.health)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=web.HERE / "static"), name="static")
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = (web.HERE / "templates" / "docs.html").read_text()
        headers = {**web.SECURITY_HEADERS, "Content-Security-Policy": DOCS_POLICY}
        return HTMLResponse(page, headers=headers)

    origins = [origin.strip() for origin in settings.api_cors_origins.split(",") if origin.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            expose_headers=["Location"],
            allow_credentials=False,  # bearer keys, not the web page's cookie
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            request = SessionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(request.pop("$defs", {}))
            components["SessionRequest"] = request
            components["SessionUpload"] = upload_schema()
            schema["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key."}
            }
            for path, operations in schema["paths"].items():
                if path.startswith("/v1/"):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # Outermost (added last): no route, CORS answer or static file is reached past it.
    policy = Policy.of(settings, host, uploads=True, form_paths=("/login", "/logout"))
    app.add_middleware(Guard, policy=policy)
    return app
