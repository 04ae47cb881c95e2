"""SandboxFusion's /run_code as the PythonInterpreter backend (the reference's remote sandbox)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import from_transport, raise_for_http


@dataclass(frozen=True)
class FusionRun:
    """What one /run_code answer says: the streams and the run's time (None when unknown)."""

    stdout: str | None
    stderr: str | None
    execution_time: float | None


def pick_endpoint(urls: tuple[str, ...]) -> str:
    """Another endpoint on each Temporal retry (the reference samples one per attempt)."""
    attempt = activity.info().attempt if activity.in_activity() else 1
    return urls[(max(attempt, 1) - 1) % len(urls)]


def _run_result(service: str, body: Any) -> dict[str, Any]:
    """The run_result of a /run_code answer; a sandbox-side error retries (on another
    endpoint), as the reference retries any exception of its client."""
    if not isinstance(body, dict):
        raise ApplicationError(f"{service} answered no JSON object", type="SandboxFusionResponse")
    if body.get("status") == "SandboxError":
        message = f"Sandbox responded with error: {body.get('message', '')}"
        raise ApplicationError(f"{service}: {message}"[:500], type="SandboxError")
    run = body.get("run_result")
    if not isinstance(run, dict):
        raise ApplicationError(f"{service} answered without a run_result", type="SandboxFusion")
    return run


async def run_code(
    http: httpx.AsyncClient, endpoint: str, code: str, run_timeout: float, client_timeout: float
) -> FusionRun:
    """POST `code` to `endpoint`/run_code; HTTP failures raise classified errors. A run killed
    at run_timeout counts as having taken run_timeout, whatever it measured."""
    service = f"SandboxFusion {endpoint}"
    payload = {"code": code, "language": "python", "run_timeout": run_timeout}
    try:
        response = await http.post(
            f"{endpoint.rstrip('/')}/run_code", json=payload, timeout=client_timeout
        )
    except httpx.HTTPError as error:
        raise from_transport(service, error) from error
    raise_for_http(service, response)
    try:
        body = response.json()
    except ValueError:
        body = None
    run = _run_result(service, body)
    execution_time = run.get("execution_time")
    if not isinstance(execution_time, int | float):
        execution_time = None
    if run.get("status") == "TimeLimitExceeded":
        execution_time = max(execution_time or 0.0, run_timeout)
    return FusionRun(run.get("stdout"), run.get("stderr"), execution_time)


__all__ = ["FusionRun", "pick_endpoint", "run_code"]
