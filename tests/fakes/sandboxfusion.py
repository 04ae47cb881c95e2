"""SandboxFusion stand-in: /run_code answers from canned results and never executes the code."""

from __future__ import annotations

import json
from typing import Any

from .base import FakeServer, Response


class FakeSandboxFusion(FakeServer):
    """`results` maps code to a whole /run_code answer (see `answer`); other code gets
    stdout "ran: <first line>". Fault knobs (fail_next, hang_next, latency) come from FakeServer."""

    def __init__(self, results: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.results: dict[str, dict[str, Any]] = dict(results or {})

    @staticmethod
    def answer(
        stdout: str | None = "",
        stderr: str | None = "",
        execution_time: float | None = 0.05,
        run_status: str = "Finished",
        status: str = "Success",
        message: str = "",
        return_code: int | None = 0,
    ) -> dict[str, Any]:
        """A RunCodeResponse as SandboxFusion's sandbox_api.py shapes it."""
        run = {
            "status": run_status,
            "execution_time": execution_time,
            "return_code": return_code,
            "stdout": stdout,
            "stderr": stderr,
        }
        return {
            "status": status,
            "message": message,
            "compile_result": None,
            "run_result": run,
            "executor_pod_name": None,
            "files": {},
        }

    def codes(self) -> list[str]:
        """The code of every answered /run_code request, in arrival order."""
        return [r.meta["code"] for r in self.records(lambda r: "code" in r.meta)]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """POST /run_code with {code, language, run_timeout}; FastAPI's 422 for a bad body."""
        if path.split("?", 1)[0].rstrip("/") != "/run_code":
            return Response.json({"detail": "Not Found"}, status=404)
        if method != "POST":
            return Response.json({"detail": "Method Not Allowed"}, status=405)
        try:
            request = json.loads(body) if body else None
        except ValueError:
            request = None
        valid = (
            isinstance(request, dict)
            and isinstance(request.get("code"), str)
            and request.get("language") == "python"
            and isinstance(request.get("run_timeout", 10), int | float)
        )
        if not valid:
            detail = [{"type": "value_error", "loc": ["body"], "msg": "invalid request"}]
            return Response.json({"detail": detail}, status=422)
        code = request["code"]
        result = self.results.get(code)
        if result is None:
            first = code.splitlines()[0] if code else ""
            result = self.answer(stdout=f"ran: {first}\n")
        return Response.json(result, meta={"code": code})
