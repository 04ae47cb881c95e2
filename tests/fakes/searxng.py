"""SearXNG stand-in: GET /search?format=json with deterministic results, 403 when JSON is off."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from .base import FakeServer, Response
from .serper import slug


class FakeSearxng(FakeServer):
    """SearXNG's JSON API. Real instances answer 403 to `format=json` unless `json` is listed in
    search.formats; `json_enabled=False` reproduces that misconfiguration."""

    def __init__(
        self,
        results: dict[str, list[dict[str, Any]]] | None = None,
        page_base: str = "http://127.0.0.1:9/",
        json_enabled: bool = True,
    ) -> None:
        super().__init__()
        self.results: dict[str, list[dict[str, Any]]] = dict(results or {})
        self.page_base = page_base if page_base.endswith("/") else page_base + "/"
        self.json_enabled = json_enabled
        # query -> unresponsive_engines answered with it (SearXNG's report of failed upstreams)
        self.unresponsive: dict[str, list[list[str]]] = {}

    def queries(self) -> list[str]:
        """The q of every /search request that got a 200, in arrival order."""
        return [r.meta["query"] for r in self.records(lambda r: r.status == 200)]

    def params(self) -> list[dict[str, str]]:
        """The query parameters of every logged /search request (first value of each)."""
        return [
            {k: v[0] for k, v in parse_qs(urlsplit(r.path).query).items()} for r in self.records()
        ]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """GET (or POST, as SearXNG allows) /search; only format=json is served."""
        parts = urlsplit(path)
        if parts.path.rstrip("/") != "/search":
            return Response.text("Not Found", status=404, content_type="text/html")
        if method not in ("GET", "POST"):
            return Response.text("Method Not Allowed", status=405, content_type="text/html")
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if method == "POST":
            params.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
        if params.get("format") != "json" or not self.json_enabled:
            return Response.text("Forbidden", status=403, content_type="text/html")
        query = params.get("q", "").strip()
        if not query:
            return Response.text("Bad Request", status=400, content_type="text/html")
        return Response.json(self._answer(query, params), meta={"query": query})

    def _answer(self, query: str, params: dict[str, str]) -> dict[str, Any]:
        if query in self.results:
            results = self.results[query]
        else:
            results = [
                {
                    "url": f"{self.page_base}page/{slug(query)}-{i}",
                    "title": f"Result {i} for {query}",
                    "content": f"Snippet {i} about {query}.",
                    "publishedDate": "2025-01-01T00:00:00" if i == 1 else None,
                    "engine": "duckduckgo",
                    "engines": ["duckduckgo", "brave"],
                    "positions": [i],
                    "score": 1.0 / i,
                    "category": "general",
                }
                for i in range(1, 4)
            ]
        return {
            "query": query,
            "number_of_results": 0,
            "results": results,
            "answers": [],
            "corrections": [],
            "infoboxes": [],
            "suggestions": [],
            "unresponsive_engines": self.unresponsive.get(query, []),
        }
