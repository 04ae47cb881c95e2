"""Temporal codec server: lets the Temporal UI and `temporal workflow show --codec-endpoint`
show claim-checked payloads decoded (POST /decode, POST /encode, CORS for the UI)."""

from __future__ import annotations

import asyncio
import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from activities.blobstore import LocalBlobStore
from activities.claimcheck import ClaimCheckCodec

log = logging.getLogger(__name__)


def make_handler(codec: ClaimCheckCodec, allow_origin: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _cors(self) -> None:
            self.send_header("Access-Control-Allow-Origin", allow_origin)
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "Content-Type, X-Namespace")
            self.send_header("Access-Control-Allow-Credentials", "true")

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self._cors()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_OPTIONS(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self._cors()
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.rstrip("/").rsplit("/", 1)[-1]
            if path not in ("encode", "decode"):
                self._reply(404, b'{"error": "use /encode or /decode"}')
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                payloads = json_format.Parse(self.rfile.read(length), Payloads())
                work = codec.encode if path == "encode" else codec.decode
                result = asyncio.run(work(list(payloads.payloads)))
            except (ValueError, KeyError, json_format.ParseError) as error:
                self._reply(400, json.dumps({"error": str(error)}).encode())
                return
            body = json_format.MessageToJson(Payloads(payloads=result)).encode()
            self._reply(200, body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug(format, *args)

    return Handler


def make_server(blob_dir: Path, host: str, port: int, allow_origin: str) -> ThreadingHTTPServer:
    codec = ClaimCheckCodec(LocalBlobStore(blob_dir))
    return ThreadingHTTPServer((host, port), make_handler(codec, allow_origin))
