"""The boundary of `deepresearch api` as an attacker meets it, over HTTP to real processes: no
foreign Host is answered (DNS rebinding), no cross-site or non-JSON write is accepted (CSRF),
no body, question or limit is larger than the deployment allows, and uploads are streamed to the
blob store within a per-request total and a stored-upload quota."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from graphs.prompts import TERMINATION_LLM_LIMIT
from tests.api.conftest import ApiProcess
from tests.conftest import Stack
from tests.workflow.test_session import QUESTION, answer, call
from workers.boundary.guard import Guard, Policy
from workers.config import Settings

HOSTILE_HOST = "rebind.attacker.example"
MIB = 1024 * 1024


def started(api: ApiProcess) -> list[str]:
    """Every session of the (shared) dev server, by id."""
    listed = httpx.get(f"{api.url}/v1/sessions", params={"limit": 200}, timeout=30)
    assert listed.status_code == 200, listed.text
    return sorted(row["session_id"] for row in listed.json()["sessions"])


def raw_request(port: int, request: bytes, host: str = "127.0.0.1") -> bytes:
    """One request exactly as written (httpx always adds a Host)."""
    with socket.create_connection((host, port), timeout=30) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_foreign_hosts_get_nothing(stack: Stack, api_process: list[ApiProcess]) -> None:
    """Key-less on loopback: only the loopback names (and the address bound) are answered, on
    every surface; a rebinding page's own name gets a one-line 421."""
    api = ApiProcess(stack).wait_ready()
    api_process.append(api)
    before = started(api)
    for path in (
        "/v1/sessions",
        "/v1/sessions/x/timeline",
        "/",
        "/sessions/x",
        "/docs",
        "/static/app.js",
        "/openapi.json",
    ):
        for host in (HOSTILE_HOST, f"{HOSTILE_HOST}:{api.port}", "127.0.0.1.nip.io", "[::2]"):
            refused = httpx.get(api.url + path, headers={"Host": host}, timeout=30)
            assert refused.status_code == 421, (path, host, refused.text)
            error = refused.json()["error"]
            assert "DEEPRESEARCH_ALLOWED_HOSTS" in error and "\n" not in error
        for host in (f"localhost:{api.port}", f"127.0.0.1:{api.port}", "localhost"):
            assert httpx.get(api.url + path, headers={"Host": host}, timeout=30).status_code in (
                200,
                404,  # /sessions/x and its timeline: no such session (but answered)
            ), (path, host)
    written = httpx.post(
        f"{api.url}/v1/sessions",
        json={"question": QUESTION},
        headers={"Host": HOSTILE_HOST},
        timeout=30,
    )
    assert written.status_code == 421
    assert not [s for s in started(api) if s not in before]
    # the probe path answers by address (a load balancer's health check)
    assert httpx.get(f"{api.url}/healthz", headers={"Host": "10.0.0.7"}).status_code == 200
    no_host = raw_request(api.port, b"GET /v1/sessions HTTP/1.0\r\n\r\n")
    assert no_host.startswith(b"HTTP/1.1 400") and b"a Host header is required" in no_host


def test_bound_address_and_configured_hosts(stack: Stack, api_process: list[ApiProcess]) -> None:
    """Bound to 127.0.0.2 (which the SDK's check and a name list of 127.0.0.1 miss), that
    address is served and a hostile name is not; DEEPRESEARCH_ALLOWED_HOSTS replaces the
    defaults."""
    api = ApiProcess(stack, host="127.0.0.2").wait_ready()
    api_process.append(api)
    assert httpx.get(f"{api.url}/v1/sessions", timeout=30).status_code == 200
    hostile = httpx.get(f"{api.url}/v1/sessions", headers={"Host": HOSTILE_HOST}, timeout=30)
    assert hostile.status_code == 421
    named = ApiProcess(stack, DEEPRESEARCH_ALLOWED_HOSTS="research.internal").wait_ready()
    api_process.append(named)
    assert (
        httpx.get(
            f"{named.url}/v1/sessions", headers={"Host": "research.internal:80"}, timeout=30
        ).status_code
        == 200
    )
    assert httpx.get(f"{named.url}/v1/sessions", timeout=30).status_code == 421  # 127.0.0.1


def test_cross_site_writes_refused(stack: Stack, api_process: list[ApiProcess]) -> None:
    """Every write a page on another site could send, sent as a browser would (forms, no-cors
    fetches, empty bodies): refused before it reaches a route; the same write as JSON from a
    non-browser client, or from the page's own origin, goes through."""
    stack.script(QUESTION, [call("search", {"query": [f"q{i}"]}) for i in range(30)])
    stack.serper.latency = 0.5
    api = ApiProcess(stack, "--worker").wait_ready()
    api_process.append(api)
    http = httpx.Client(base_url=api.url, timeout=30)
    running = http.post("/v1/sessions", json={"question": QUESTION, "id": "b-running"})
    assert running.status_code == 202
    failing = http.post("/v1/sessions", json={"question": "No script here", "id": "b-failed"})
    assert failing.status_code == 202
    deadline = time.monotonic() + 120
    while http.get("/v1/sessions/b-failed").json()["status"] != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.3)

    before = started(api)
    evil = "http://attacker.example"
    attempts = [
        # a multipart form (what the upload form sends) without the page's CSRF header
        ("POST", "/v1/sessions", {"files": {"question": (None, "spend")}}, 415),
        ("POST", "/v1/sessions", {"data": {"question": "spend"}}, 415),  # urlencoded form
        (
            "POST",
            "/v1/sessions",
            {"content": b'{"question": "spend"}', "headers": {"Content-Type": "text/plain"}},
            415,
        ),
        (
            "POST",
            "/v1/sessions/b-running/cancel",
            {"content": b"", "headers": {"Content-Type": "text/plain"}},
            415,
        ),
        ("POST", "/v1/sessions/b-running/cancel", {}, 415),  # no-cors fetch, empty body
        ("POST", "/v1/sessions/b-failed/resume", {}, 415),
        ("POST", "/v1/sessions/b-running/steer", {"data": {"note": "x"}}, 415),
        # JSON, but from another site (a CORS-exempt fetch cannot send it; refused anyway)
        ("POST", "/v1/sessions", {"json": {"question": "spend"}, "headers": {"Origin": evil}}, 403),
        ("POST", "/v1/sessions/b-running/cancel", {"json": {}, "headers": {"Origin": "null"}}, 403),
        (
            "POST",
            "/v1/sessions/b-failed/resume",
            {"json": {}, "headers": {"Sec-Fetch-Site": "cross-site"}},
            403,
        ),
        (
            "POST",
            "/v1/sessions/b-failed/resume",
            {"json": {}, "headers": {"Sec-Fetch-Site": "same-site"}},
            403,
        ),  # another port
        (
            "POST",
            "/v1/sessions/b-failed/resume",
            {"json": {}, "headers": {"Origin": f"http://127.0.0.1:{api.port + 1}"}},
            403,
        ),
    ]
    for method, path, kwargs, status in attempts:
        refused = http.request(method, path, **kwargs)  # type: ignore[arg-type]
        assert refused.status_code == status, (path, kwargs, refused.text)
        assert "\n" not in refused.json()["error"]
    assert started(api) == before
    assert http.get("/v1/sessions/b-running").json()["status"] == "running"
    assert http.get("/v1/sessions/b-failed").json()["status"] == "failed"

    # the page's own origin and plain clients are served
    own = {"Origin": api.url, "Sec-Fetch-Site": "same-origin"}
    steered = http.post("/v1/sessions/b-running/steer", json={"note": "x"}, headers=own)
    assert steered.status_code == 202, steered.text
    assert http.post("/v1/sessions/b-running/cancel", json={}).status_code == 202
    page = {"X-DeepResearch-CSRF": "1", **own}
    upload = http.post(
        "/v1/sessions",
        data={"question": QUESTION, "id": "b-page"},
        files={"files[]": ("a.txt", b"x")},
        headers=page,
    )
    assert upload.status_code == 202, upload.text


def test_cookie_writes_need_the_same_origin(stack: Stack, api_process: list[ApiProcess]) -> None:
    """With keys, a bearer key proves the caller (no browser sends one cross-site); a signed-in
    browser's cookie from another origin is refused even with the page's header."""
    keys = "boundary-key-0123456789"
    api = ApiProcess(stack, DEEPRESEARCH_API_KEYS=keys).wait_ready()
    api_process.append(api)
    bearer = {"Authorization": f"Bearer {keys}"}
    plain = httpx.post(
        f"{api.url}/v1/sessions/x/cancel",
        content=b"",
        timeout=30,
        headers={**bearer, "Content-Type": "text/plain"},
    )
    assert plain.status_code == 404  # authenticated, past the type rule: no such session
    cross = httpx.post(
        f"{api.url}/v1/sessions/x/cancel",
        json={},
        timeout=30,
        headers={"X-DeepResearch-CSRF": "1", "Origin": "https://evil.example"},
    )
    assert cross.status_code == 403 and "cross-site" in cross.json()["error"]
    any_host = httpx.get(f"{api.url}/v1/sessions", headers={**bearer, "Host": "api.example"})
    assert any_host.status_code == 200  # with keys, the keys are the guard (unless set)


def test_bodies_questions_and_limits_are_bounded(
    stack: Stack, api_process: list[ApiProcess]
) -> None:
    stack.script(QUESTION, [call("search", {"query": [f"q{i}"]}) for i in range(5)] + [answer()])
    api = ApiProcess(stack, "--worker", DEEPRESEARCH_MAX_LLM_CALLS="2").wait_ready()
    api_process.append(api)
    http = httpx.Client(base_url=api.url, timeout=60)
    before = started(api)
    huge = http.post("/v1/sessions", json={"question": "x" * (2 * MIB)})
    assert huge.status_code == 413 and "DEEPRESEARCH_API_MAX_BODY_BYTES" in huge.json()["error"]

    def dribble() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"question": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    streamed = http.post(
        "/v1/sessions", content=dribble(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413, streamed.text
    long = http.post("/v1/sessions", json={"question": "z" * (33 * 1024)})
    assert long.status_code == 422
    assert "DEEPRESEARCH_MAX_QUESTION_BYTES" in long.json()["error"]
    for value in (2**63, 10**7, 0, -1):
        bad = http.post(
            "/v1/sessions", json={"question": QUESTION, "limits": {"max_llm_calls": value}}
        )
        assert bad.status_code == 422, (value, bad.text)
        assert bad.json()["error"].startswith("limits.max_llm_calls: "), bad.text
    assert started(api) == before
    # a caller's larger budget does not raise the deployment's cap of 2
    more = http.post(
        "/v1/sessions", json={"question": QUESTION, "id": "b-cap", "limits": {"max_llm_calls": 500}}
    )
    assert more.status_code == 202
    deadline = time.monotonic() + 120
    while (view := http.get("/v1/sessions/b-cap").json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert view["result"]["llm_calls"] == 2, view
    assert view["result"]["termination"] == TERMINATION_LLM_LIMIT, view


def multipart(boundary: str, files: list[tuple[str, int]], question: str) -> Iterator[bytes]:
    """A multipart body written as it is sent: the files are zeros, made 1 MiB at a time."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="question"\r\n\r\n{question}\r\n'
    ).encode()
    for name, size in files:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files[]"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        block = b"\0" * MIB
        for start in range(0, size, MIB):
            yield block[: min(MIB, size - start)]
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


class PeakRss:
    """The most resident memory a process had while this watched it (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def rss(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def upload(api: ApiProcess, files: list[tuple[str, int]], length: bool = False) -> httpx.Response:
    boundary = "deepresearchboundary0123456789"
    body = multipart(boundary, files, QUESTION)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "X-DeepResearch-CSRF": "1",
    }
    if length:
        headers["Content-Length"] = str(
            sum(len(part) for part in multipart(boundary, files, QUESTION))
        )
    return httpx.post(f"{api.url}/v1/sessions", content=body, headers=headers, timeout=300)


def test_uploads_stream_within_a_request_total_and_a_quota(
    stack: Stack, api_process: list[ApiProcess]
) -> None:
    """A 1 GB upload attempt is cut off at the request total without the API's memory growing
    by more than 64 MiB; a 150 MiB file is stored (streamed, same bytes) and counted against
    the stored-upload quota, which refuses the next file that would pass it."""
    quota = 200 * MIB
    api = ApiProcess(stack, DEEPRESEARCH_UPLOAD_QUOTA_BYTES=str(quota)).wait_ready()
    api_process.append(api)
    before = started(api)
    warm = upload(api, [("warm.txt", 1024)])
    assert warm.status_code == 202, warm.text
    watch = PeakRss(api.process.pid)
    baseline = watch.rss()
    with watch:
        attempt = upload(api, [(f"part-{i}.bin", 150 * MIB) for i in range(7)])  # ~1 GB
        assert attempt.status_code == 413, attempt.text
        assert "DEEPRESEARCH_UPLOAD_MAX_REQUEST_BYTES" in attempt.json()["error"]
        declared = upload(api, [(f"part-{i}.bin", 150 * MIB) for i in range(7)], length=True)
        assert declared.status_code == 413
        stored = upload(api, [("big.bin", 150 * MIB)])
        assert stored.status_code == 202, stored.text
    assert watch.peak - baseline < 64 * MIB, (baseline, watch.peak)
    blobs = stack.data_dir / "blobs" / "uploads"
    sizes = sorted(int(marker.name) for marker in blobs.glob("*/*"))
    assert sizes == [1024, 150 * MIB]
    over = upload(api, [("more.bin", 60 * MIB)])
    assert over.status_code == 413, over.text
    assert "DEEPRESEARCH_UPLOAD_QUOTA_BYTES" in over.json()["error"]
    assert len(set(started(api)) - set(before)) == 2  # the refused requests started nothing


async def test_the_guard_counts_a_body_that_lies() -> None:
    """A Content-Length under the cap with more bytes behind it is still cut at the cap: the
    app never receives more than it allows (in-process: a real client cannot lie)."""
    received: list[int] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        total = 0
        while True:
            message = await receive()  # type: ignore[operator]
            if message["type"] == "http.disconnect":
                break
            total += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        received.append(total)
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    policy = Policy.of(Settings(DEEPRESEARCH_API_MAX_BODY_BYTES="4096"), "127.0.0.1")
    chunks = [b"a" * 3000, b"b" * 3000, b"c" * 3000]
    sent: list[dict] = []  # type: ignore[type-arg]

    async def receive() -> dict:  # type: ignore[type-arg]
        body = chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/sessions",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
        ],
    }
    await Guard(app, policy)(scope, receive, send)  # type: ignore[arg-type]
    assert received == [3000]  # the second chunk passed the cap: the app saw a disconnect
    assert sent[0]["status"] == 413 and len(sent) == 2  # and the app's own 200 was dropped
    assert "DEEPRESEARCH_API_MAX_BODY_BYTES" in json.loads(sent[1]["body"])["error"]
