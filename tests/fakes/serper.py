"""Serper.dev stand-in: /search and /scholar with deterministic results pointing at a fake site."""

from __future__ import annotations

import json
import re
from typing import Any

from .base import FakeServer, Response


def slug(q: str) -> str:
    """Lower-case `q` and turn every non-alphanumeric character into '-' (used in result links)."""
    return re.sub(r"[^a-z0-9]", "-", q.lower())


class FakeSerper(FakeServer):
    """Search API whose links default to `page_base`, so a FakeJina can serve the pages."""

    def __init__(
        self,
        api_key: str = "test-serper-key",
        results: dict[str, list[dict[str, Any]]] | None = None,
        page_base: str = "http://127.0.0.1:9/",
        scholar_results: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.results: dict[str, list[dict[str, Any]]] = dict(results or {})
        self.scholar_results: dict[str, list[dict[str, Any]]] = dict(scholar_results or {})
        self.page_base = page_base if page_base.endswith("/") else page_base + "/"

    def queries(self, path: str = "/search") -> list[str]:
        """The q of every logged request to `path` that got a 200, in arrival order."""
        return [
            q
            for r in self.records(lambda r: r.status == 200 and r.path.split("?", 1)[0] == path)
            for q in r.meta.get("queries", [])
        ]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """POST /search and /scholar; a JSON list body is a batch and gets a list back."""
        route = path.split("?", 1)[0].rstrip("/")
        if route not in ("/search", "/scholar"):
            return Response.json({"message": "Not found."}, status=404)
        if method != "POST":
            return Response.json({"message": "Method not allowed."}, 405)
        if headers.get("x-api-key") != self.api_key:
            return Response.json({"message": "Unauthorized."}, status=403)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        batch = payload if isinstance(payload, list) else [payload]
        params = [p for p in batch if isinstance(p, dict)]
        if not params or len(params) != len(batch) or any(not _query(p) for p in params):
            return Response.json({"message": "Missing query parameter q."}, 400)

        build = self._search if route == "/search" else self._scholar
        answers = [build(p) for p in params]
        meta = {"queries": [_query(p) for p in params]}
        return Response.json(answers if isinstance(payload, list) else answers[0], meta=meta)

    def _search(self, params: dict[str, Any]) -> dict[str, Any]:
        q = _query(params)
        if q in self.results:
            organic = self.results[q]
        else:
            organic = [
                {
                    "title": f"Result {i} for {q}",
                    "link": f"{self.page_base}page/{slug(q)}-{i}",
                    "snippet": f"Snippet {i} about {q}.",
                    "date": "Jan 1, 2025",
                    "position": i,
                }
                for i in range(1, 4)
            ]
        echo = {**params, "type": "search", "engine": "google"}
        return {"searchParameters": echo, "organic": organic}

    def _scholar(self, params: dict[str, Any]) -> dict[str, Any]:
        q = _query(params)
        if q in self.scholar_results:
            organic = self.scholar_results[q]
        else:
            organic = [
                {
                    "title": f"Paper {i} on {q}",
                    "link": f"{self.page_base}page/{slug(q)}-paper-{i}",
                    "pdfUrl": f"{self.page_base}pdf/{slug(q)}-{i}.pdf",
                    "publicationInfo": f"A Author - Journal {i}, 2024",
                    "year": 2024,
                    "citedBy": 10 * i,
                    "snippet": f"Abstract {i} about {q}.",
                }
                for i in range(1, 3)
            ]
        echo = {**params, "type": "scholar", "engine": "google-scholar"}
        return {"searchParameters": echo, "organic": organic}


def _query(params: dict[str, Any]) -> str:
    q = params.get("q")
    return q if isinstance(q, str) and q.strip() else ""
