"""`deepresearch api`: the HTTP API (FastAPI), its server-sent events and the web page, all
over the session layer (`workers.client`)."""

from workers.api.app import create_app
from workers.api.server import serve

__all__ = ["create_app", "serve"]
