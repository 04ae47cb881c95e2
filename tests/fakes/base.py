"""Loopback HTTP server base for test fakes: real sockets, fault knobs and a request log."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast

# A hung request gives up after this long even if nobody stops the server.
HANG_LIMIT_S = 600.0

_HEALTH_PATH = "/_health"


@dataclass
class Response:
    """What a fake answers; an iterable `body` is streamed chunk by chunk (chunked transfer
    encoding, so the connection stays open for the next request, as on a real server)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    # Copied into the RequestRecord so subclasses can tag requests (kind, turn, target...).
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def json(
        cls,
        obj: Any,
        status: int = 200,
        headers: dict[str, str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Response:
        """JSON answer with the right content type."""
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        return cls(status, hdrs, json.dumps(obj).encode(), dict(meta or {}))

    @classmethod
    def text(
        cls,
        text: str,
        status: int = 200,
        content_type: str = "text/plain; charset=utf-8",
        meta: dict[str, Any] | None = None,
    ) -> Response:
        """Text answer (plain, HTML, markdown) encoded as UTF-8."""
        return cls(status, {"Content-Type": content_type}, text.encode(), dict(meta or {}))


@dataclass
class RequestRecord:
    """One request as the fake saw it; `status` 0 means it hung and got no reply."""

    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased so lookups do not depend on client casing
    body: Any  # parsed JSON, or None when the body is empty or not JSON
    raw: bytes
    status: int
    at: float  # time.monotonic() when the request arrived
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Fault:
    kind: str  # "fail" or "hang"
    status: int = 0
    retry_after: float | str | None = None
    body: str = ""
    hang_seconds: float = HANG_LIMIT_S


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its fake, never blocks on close and never prints."""

    daemon_threads = True
    # Hung or slow-streaming handlers must not make stop() wait for them.
    block_on_close = False
    # The stdlib default backlog of 5 resets connections when tests fire requests in parallel
    # (1,000 at once in the concurrency benchmark's baseline).
    request_queue_size = 1024

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects are normal in fault tests; keep stderr clean."""

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Serve one connection (keep-alive: many requests), remembered so stop() can cut it."""
        with self._open_lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        """Cut every open connection: a stopped fake must not answer on an idle keep-alive
        connection (tests stop a fake to take the server down)."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client


class _Handler(BaseHTTPRequestHandler):
    """Routes every method to the owning fake; connections are kept alive between requests."""

    protocol_version = "HTTP/1.1"
    # An idle keep-alive connection is closed after this long (clients drop theirs sooner:
    # httpx after 5 s), like a real server's keep-alive timeout.
    timeout = 60
    # Headers and each streamed chunk are separate small writes: without TCP_NODELAY, Nagle's
    # algorithm holds them for the client's delayed ACK (~40 ms a response on a kept-alive
    # connection).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no per-request stderr lines."""

    def _dispatch(self) -> None:
        self.server.fake._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _header_value(seconds: float | str) -> str:
    """A Retry-After value: seconds, or a text given as is (an HTTP date, a malformed one)."""
    if isinstance(seconds, str):
        return seconds
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


class FakeServer:
    """Real HTTP server on 127.0.0.1 so the code under test uses its normal network stack."""

    fault_exempt: tuple[str, ...] = ()  # paths whose requests are never faulted (health checks)

    def __init__(self) -> None:
        self.latency: float = 0.0  # seconds added before every answer (faults included)
        self.in_flight = 0  # requests being answered now (health checks excluded)
        self.max_in_flight = 0  # the most ever answered at once
        self.requests: list[RequestRecord] = []
        self.errors: list[str] = []  # tracebacks of exceptions raised by handle()
        self._lock = threading.Lock()
        self._logged = threading.Condition(self._lock)
        self._faults: deque[_Fault] = deque()
        self._chaos: tuple[float, random.Random, list[_Fault]] | None = None
        self._stopped = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind an ephemeral port and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._stopped.clear()
        self._httpd = _Server(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wake hung requests; safe to call twice."""
        httpd, self._httpd = self._httpd, None
        self._stopped.set()
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Bound port; only valid while running."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start()")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without trailing slash, e.g. http://127.0.0.1:54321."""
        return f"http://127.0.0.1:{self.port}"

    # -- fault knobs -----------------------------------------------------------------------

    def fail_next(
        self, n: int, status: int = 503, retry_after: float | str | None = None, body: str = ""
    ) -> None:
        """Answer the next n requests with `status` (plus Retry-After when given)."""
        self._add_faults(n, _Fault("fail", status, retry_after, body))

    def hang_next(self, n: int) -> None:
        """Make the next n requests wait until stop() (or HANG_LIMIT_S), then close silently."""
        self._add_faults(n, _Fault("hang"))

    def chaos(self, rate: float, seed: int = 0, hang_seconds: float = 5.0) -> None:
        """Fault a random `rate` of requests (after queued faults), reproducibly from `seed`:
        429 with Retry-After, 503, or a hang of `hang_seconds` (a client timeout)."""
        kinds = [
            _Fault("fail", 429, 0.2),
            _Fault("fail", 503),
            _Fault("hang", hang_seconds=hang_seconds),
        ]
        with self._lock:
            self._chaos = (rate, random.Random(seed), kinds)

    def clear_faults(self) -> None:
        """Drop pending fail/hang faults and chaos."""
        with self._lock:
            self._faults.clear()
            self._chaos = None

    def _add_faults(self, n: int, fault: _Fault) -> None:
        if n < 0:
            raise ValueError("n must be >= 0")
        # Faults queue in call order, so fail_next(1); hang_next(1) fails then hangs.
        with self._lock:
            self._faults.extend([fault] * n)

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            if self._chaos is not None:
                rate, rng, kinds = self._chaos
                if rng.random() < rate:
                    return rng.choice(kinds)
            return None

    # -- request log -----------------------------------------------------------------------

    def clear_log(self) -> None:
        """Forget logged requests and handler errors."""
        with self._lock:
            self.requests.clear()
            self.errors.clear()

    def records(
        self, predicate: Callable[[RequestRecord], bool] | None = None
    ) -> list[RequestRecord]:
        """Snapshot of the log (optionally filtered), safe while requests are in flight."""
        with self._lock:
            snapshot = list(self.requests)
        return [r for r in snapshot if predicate is None or predicate(r)]

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RequestRecord]:
        """Block until at least n requests are logged; lets tests sync with background clients."""
        with self._logged:
            if not self._logged.wait_for(lambda: len(self.requests) >= n, timeout=timeout):
                raise TimeoutError(f"only {len(self.requests)} of {n} requests after {timeout}s")
            return list(self.requests)

    def _log(self, record: RequestRecord) -> None:
        with self._logged:
            self.requests.append(record)
            self._logged.notify_all()

    # -- subclass hook ---------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """Answer one request; `path` is the raw request target (query string included)."""
        return Response.json({"error": f"no route for {method} {path}"}, status=404)

    # -- plumbing --------------------------------------------------------------------------

    def _serve(self, h: _Handler) -> None:
        counted = h.command == "POST"  # the work, not health checks or probes
        if counted:
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._respond(h)
        finally:
            if counted:
                with self._lock:
                    self.in_flight -= 1

    def _respond(self, h: _Handler) -> None:
        at = time.monotonic()
        method, path = h.command, h.path
        headers = {k.lower(): v for k, v in h.headers.items()}
        raw = self._read_body(h, headers)
        if method == "GET" and path.split("?", 1)[0] == _HEALTH_PATH:
            # Readiness probes are neither faulted nor logged.
            self._write(h, Response.json({"ok": True}), head=False)
            return

        def record(status: int, meta: dict[str, Any] | None = None) -> None:
            self._log(
                RequestRecord(method, path, headers, _parse_json(raw), raw, status, at, meta or {})
            )

        exempt = path.split("?", 1)[0] in self.fault_exempt
        fault = None if exempt else self._take_fault()
        if fault is not None and fault.kind == "hang":
            record(0, {"fault": "hang"})
            self._stopped.wait(fault.hang_seconds)
            h.close_connection = True
            return
        if self.latency > 0:
            self._stopped.wait(self.latency)

        if fault is not None:
            payload = fault.body.encode()
            is_json = _parse_json(payload) is not None
            fault_headers = {
                "Content-Type": "application/json" if is_json else "text/plain; charset=utf-8"
            }
            if fault.retry_after is not None:
                fault_headers["Retry-After"] = _header_value(fault.retry_after)
            resp = Response(fault.status, fault_headers, payload, {"fault": "fail"})
        else:
            try:
                resp = self.handle(method, path, headers, raw)
            except Exception:
                tb = traceback.format_exc()
                with self._lock:
                    self.errors.append(tb)
                resp = Response.text(tb, status=500, meta={"error": True})
        record(resp.status, resp.meta)
        self._write(h, resp, head=method == "HEAD")

    @staticmethod
    def _read_body(h: _Handler, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(h.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Skip trailers up to the blank line.
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(h.rfile.read(size))
                h.rfile.readline()
        length = int(headers.get("content-length") or 0)
        return h.rfile.read(length) if length > 0 else b""

    @staticmethod
    def _write(h: _Handler, resp: Response, head: bool) -> None:
        body = resp.body
        payload = bytes(body) if isinstance(body, bytes | bytearray) else None
        try:
            h.send_response(resp.status)
            for name, value in resp.headers.items():
                if name.lower() not in ("content-length", "connection"):
                    h.send_header(name, value)
            if payload is not None:
                h.send_header("Content-Length", str(len(payload)))
            else:
                h.send_header("Transfer-Encoding", "chunked")
                if not any(k.lower() == "cache-control" for k in resp.headers):
                    h.send_header("Cache-Control", "no-cache")
            h.end_headers()
            if head:
                return
            if payload is not None:
                h.wfile.write(payload)
                h.wfile.flush()
            else:
                for chunk in cast(Iterable[bytes], body):
                    if chunk:  # an empty chunk would end the body
                        h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        h.wfile.flush()
                h.wfile.write(b"0\r\n\r\n")
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True  # client went away (timeouts, cancelled streams)
        except BaseException:
            h.close_connection = True  # a body cut off midway: the connection is unusable
            raise
