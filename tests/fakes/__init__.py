"""Loopback HTTP fakes for external APIs (OpenAI-compatible model, Serper, Jina Reader)."""

from .base import FakeServer, RequestRecord, Response
from .jina import FakeJina
from .model import FakeModel
from .serper import FakeSerper

__all__ = ["FakeJina", "FakeModel", "FakeSerper", "FakeServer", "RequestRecord", "Response"]
