"""Temporal codec server: lets the Temporal UI and `temporal workflow show --codec-endpoint`
show claim-checked payloads decoded (POST /decode, POST /encode when asked for, CORS for the UI).

It reads the blob store for anyone who can reach it, so every request is checked before any
work: the Host header (DNS rebinding), the Origin (other web pages), an optional bearer token,
the body's declared size and read time, and the size of what a blob inflates to."""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from activities.blobstore import BlobStore, BlobStoreError
from activities.claimcheck import ClaimCheckCodec, DecodedTooLarge
from workers.config import Settings, load_settings
from workers.hosting.blobs import blob_store

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})


def split_list(text: str) -> list[str]:
    """`a, b,,c` -> ["a", "b", "c"]: how list settings are written in the environment."""
    return [item.strip() for item in text.split(",") if item.strip()]


def ui_origins(ui_port: int) -> list[str]:
    """Both ways a browser may name a UI on this machine (the README says 127.0.0.1, the
    temporal CLI says localhost)."""
    return [f"http://127.0.0.1:{ui_port}", f"http://localhost:{ui_port}"]


@dataclass(frozen=True)
class CodecPolicy:
    """What the server accepts. The defaults suit a codec server bound to loopback."""

    origins: frozenset[str] = frozenset(ui_origins(8233))
    """Browser origins allowed to call (CORS); a request with any other Origin is refused."""
    hosts: frozenset[str] | None = LOOPBACK_HOSTS
    """Host header names accepted (None: any); refuses DNS-rebinding pages."""
    token: str | None = field(default=None, repr=False)
    """When set, requests need `Authorization: Bearer <token>`."""
    allow_encode: bool = False
    """/encode writes to the blob store, so it is off unless asked for."""
    max_body_bytes: int = 8 * 1024 * 1024
    """Largest request body read."""
    max_decoded_bytes: int = 64 * 1024 * 1024
    """Most bytes one request's payloads may inflate to (a zlib bomb stops here)."""
    read_timeout: float = 10.0
    """Seconds a connection may stall while sending its request."""
    max_connections: int = 64
    """Connections served at once; more are refused with 503."""
    max_concurrent_work: int = 4
    """Requests decoding at once (each may hold up to max_decoded_bytes)."""


def policy_from_settings(
    settings: Settings,
    bind_host: str,
    extra_origins: Iterable[str] = (),
    origins: Sequence[str] | None = None,
    allow_encode: bool = False,
) -> CodecPolicy:
    """The policy the `DEEPRESEARCH_CODEC_*` settings describe (`origins` replaces the
    configured list, `extra_origins` adds to it)."""
    hosts_setting = split_list(settings.codec_hosts)
    hosts: frozenset[str] | None
    if "*" in hosts_setting:
        hosts = None
    elif hosts_setting:
        hosts = frozenset(host.lower() for host in hosts_setting)
    else:
        extra = set() if bind_host in WILDCARD_BINDS else {bind_host.strip("[]").lower()}
        hosts = LOOPBACK_HOSTS | extra
    allowed = list(origins) if origins else split_list(settings.codec_origins)
    token = settings.codec_token.get_secret_value() if settings.codec_token else None
    return CodecPolicy(
        origins=frozenset(origin.rstrip("/") for origin in [*allowed, *extra_origins]),
        hosts=hosts,
        token=token or None,
        allow_encode=allow_encode,
        max_body_bytes=settings.codec_max_body_bytes,
        max_decoded_bytes=settings.codec_max_decoded_bytes,
        read_timeout=settings.codec_read_timeout_seconds,
    )


class Refused(Exception):
    """A request answered with a 4xx JSON error and a closed connection (its body may be
    unread, so the connection cannot carry another request)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _host_name(header: str) -> str:
    """`Host: [::1]:8081` -> `::1`; `Host: localhost:8081` -> `localhost`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def make_handler(
    codec: ClaimCheckCodec, policy: CodecPolicy, work: threading.BoundedSemaphore
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "deepresearch-codec"
        sys_version = ""
        protocol_version = "HTTP/1.1"
        timeout = policy.read_timeout  # socket timeout for the request line, headers and body

        # -- replies ------------------------------------------------------------------------

        def _cors(self) -> None:
            origin = self.headers.get("Origin")
            if origin and origin.rstrip("/") in policy.origins:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header(
                    "Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization"
                )
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Access-Control-Max-Age", "600")
                if self.headers.get("Access-Control-Request-Private-Network") == "true":
                    self.send_header("Access-Control-Allow-Private-Network", "true")
            self.send_header("Vary", "Origin")

        def _reply(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self._cors()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
            self._reply(status, json.dumps({"error": message}).encode(), extra)

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """http.server's own errors (bad request line, headers too long) as JSON too."""
            self.close_connection = True
            if self.request_version in ("", "HTTP/0.9"):  # no HTTP/0.9 here: send a status line
                self.request_version = "HTTP/1.0"
            if getattr(self, "headers", None) is None:
                self.headers = self.MessageClass()
            self._error(code, message or self.responses.get(code, ("error",))[0])

        # -- checks -------------------------------------------------------------------------

        def _check_caller(self) -> None:
            host = self.headers.get("Host")
            if policy.hosts is not None:
                if not host:
                    raise Refused(400, "a Host header is required")
                if _host_name(host) not in policy.hosts:
                    raise Refused(403, f"host {host!r} is not served (DEEPRESEARCH_CODEC_HOSTS)")
            origin = self.headers.get("Origin")
            if origin is not None and origin.rstrip("/") not in policy.origins:
                raise Refused(403, f"origin {origin!r} is not allowed (DEEPRESEARCH_CODEC_ORIGINS)")

        def _check_token(self) -> None:
            if policy.token is None:
                return
            scheme, _, credential = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                credential.strip().encode(), policy.token.encode()
            ):
                raise Refused(401, "a valid bearer token is required")

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                raise Refused(411, "chunked bodies are not accepted; send Content-Length")
            declared = self.headers.get("Content-Length")
            if declared is None:
                raise Refused(411, "Content-Length is required")
            if not declared.strip().isdigit():
                raise Refused(400, f"bad Content-Length {declared!r}")
            length = int(declared)
            if length > policy.max_body_bytes:
                limit = policy.max_body_bytes
                raise Refused(413, f"body over {limit} bytes (DEEPRESEARCH_CODEC_MAX_BODY_BYTES)")
            chunks, remaining = [], length
            try:
                while remaining:
                    chunk = self.rfile.read1(min(remaining, 1 << 16))
                    if not chunk:
                        raise Refused(400, f"body ended {remaining} bytes short")
                    chunks.append(chunk)
                    remaining -= len(chunk)
            except TimeoutError:
                raise Refused(408, "the request body stalled") from None
            return b"".join(chunks)

        # -- work ---------------------------------------------------------------------------

        def _convert(self, operation: str, payloads: list[Payload]) -> list[Payload]:
            if operation == "encode":
                return asyncio.run(codec.encode(payloads))

            async def decode_within_budget() -> list[Payload]:
                budget, decoded = policy.max_decoded_bytes, []
                for payload in payloads:
                    (result,) = await codec.decode([payload])
                    budget -= result.ByteSize()
                    if budget < 0:
                        raise DecodedTooLarge(policy.max_decoded_bytes)
                    decoded.append(result)
                return decoded

            return asyncio.run(decode_within_budget())

        def _handle_post(self) -> bytes:
            self._check_caller()
            self._check_token()
            operation = urlsplit(self.path).path.rstrip("/").rsplit("/", 1)[-1]
            if operation not in ("encode", "decode"):
                raise Refused(404, "use /decode (or /encode)")
            if operation == "encode" and not policy.allow_encode:
                raise Refused(403, "/encode is off; start the codec server with --allow-encode")
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                raise Refused(415, "send Content-Type: application/json")
            body = self._read_body()
            try:
                payloads = list(json_format.Parse(body, Payloads()).payloads)
            except (json_format.ParseError, ValueError) as error:
                raise Refused(400, f"not a Payloads JSON object: {error}") from None
            if not work.acquire(timeout=policy.read_timeout):
                raise Refused(503, "busy; try again")
            try:
                result = self._convert(operation, payloads)
            except DecodedTooLarge as error:
                raise Refused(413, str(error)) from None
            except BlobStoreError as error:  # unreachable, or refusing our credentials
                log.warning("codec request: %s", error)
                message = "the blob store is unavailable; see the codec server's log"
                raise Refused(503, message) from None
            except KeyError as error:
                log.warning("codec request for a missing blob: %s", error)
                raise Refused(404, "a claim-checked blob is not in the blob store") from None
            except (zlib.error, DecodeError, ValueError) as error:
                raise Refused(422, f"not a readable claim-checked blob: {error}") from None
            finally:
                work.release()
            return json_format.MessageToJson(Payloads(payloads=result)).encode()

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            try:
                body = self._handle_post()
            except Refused as refused:
                self.close_connection = True
                extra = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
                self._error(refused.status, str(refused), extra)
                return
            except Exception:
                log.exception("codec request %s failed", self.path)
                self.close_connection = True
                self._error(500, "internal error; see the codec server's log")
                return
            self._reply(200, body)

        def do_OPTIONS(self) -> None:  # noqa: N802
            """CORS preflight: browsers send no credentials here, so only Host and Origin count."""
            try:
                self._check_caller()
            except Refused as refused:
                self._error(refused.status, str(refused))
                return
            self.close_connection = self.headers.get("Content-Length", "0") != "0"
            self.send_response(204)
            self._cors()
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _not_allowed(self) -> None:
            self._error(405, "use POST /decode", {"Allow": "POST, OPTIONS"})

        do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = _not_allowed

        def log_message(self, format: str, *args: object) -> None:
            log.debug(format, *args)

    return Handler


class CodecHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most `policy.max_connections` of them."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], policy: CodecPolicy, codec: ClaimCheckCodec):
        self.policy = policy
        self.slots = threading.BoundedSemaphore(policy.max_connections)
        work = threading.BoundedSemaphore(policy.max_concurrent_work)
        super().__init__(address, make_handler(codec, policy, work))

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 17\r\nConnection: close\r\n\r\n{"error": "busy"}'
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-reply is not the server's error: one log line."""
        log.info("codec connection from %s ended with an error", client_address, exc_info=True)


def make_server(
    store: BlobStore, host: str, port: int, policy: CodecPolicy | None = None
) -> CodecHTTPServer:
    """The codec endpoints over the deployment's blob store (`research_worker.blob_store`)."""
    policy = policy or CodecPolicy()
    codec = ClaimCheckCodec(store, max_decoded_bytes=policy.max_decoded_bytes)
    return CodecHTTPServer((host, port), policy, codec)


def serve_in_thread(server: CodecHTTPServer) -> threading.Thread:
    """Serve beside other work in this process (`deepresearch server`)."""
    thread = threading.Thread(target=server.serve_forever, name="codec-server", daemon=True)
    thread.start()
    return thread


def _alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (exited, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc: os.kill's answer stands


def _exit_with(pid: int, server: CodecHTTPServer) -> None:
    """Stop serving once process `pid` (the dev server whose UI this serves) is gone."""

    def watch() -> None:
        while _alive(pid):
            time.sleep(1)
        log.info("dev server %d is gone; the codec server stops", pid)
        server.shutdown()

    threading.Thread(target=watch, name="exit-with", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m workers.hosting.codec_server`: the background codec server that
    `ensure_dev_server` starts beside the dev server (lighter to import than the CLI)."""
    parser = argparse.ArgumentParser(prog="python -m workers.hosting.codec_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, help="default: DEEPRESEARCH_DATA_DIR")
    parser.add_argument("--allow-origin", action="append", default=[], help="added to the list")
    parser.add_argument("--exit-with", type=int, metavar="PID", help="stop when PID exits")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings()
    if args.data_dir is not None:
        settings = settings.model_copy(update={"data_dir": args.data_dir})
    policy = policy_from_settings(settings, args.host, extra_origins=args.allow_origin)
    server = make_server(blob_store(settings), args.host, args.port, policy)
    if args.exit_with is not None:
        _exit_with(args.exit_with, server)
    log.info("codec server on http://%s:%d for %s", args.host, args.port, sorted(policy.origins))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
