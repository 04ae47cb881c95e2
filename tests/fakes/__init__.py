"""Loopback HTTP fakes for external APIs (OpenAI-compatible model, Serper, Jina Reader)."""

from .base import FakeServer, RequestRecord, Response
from .jina import FakeJina
from .model import FakeModel
from .serper import FakeSerper


def fake_env(model: FakeModel, serper: FakeSerper, jina: FakeJina) -> dict[str, str]:
    """The environment that points deepresearch at these fakes (loopback allowed: they live
    there), for a worker process or a Settings object."""
    return {
        "OPENAI_BASE_URL": f"{model.url}/v1",
        "DEEPRESEARCH_MODEL": "fake-model",
        "SERPER_API_KEY": serper.api_key,
        "SERPER_BASE_URL": serper.url,
        "JINA_API_KEY": jina.api_key or "",
        "JINA_BASE_URL": jina.url,
        "DEEPRESEARCH_ALLOW_LOOPBACK": "1",
    }


__all__ = [
    "FakeJina",
    "FakeModel",
    "FakeSerper",
    "FakeServer",
    "RequestRecord",
    "Response",
    "fake_env",
]
