"""Real servers for the scale tests and benchmark: moto's S3 API server, a loopback TCP proxy
that can cut the way to it (an outage) and restore it on the same port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from workers.hosting import devserver

REGION = "us-east-1"


class S3Server:
    """`python -m moto.server` on a free loopback port (its state lives in its memory)."""

    def __init__(self, log: Path, **env: str) -> None:
        self.port = devserver.free_port()
        self.log = log
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        output = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        devserver.wait_for_port(self.port, 30, self.process)
        return self

    def create_bucket(self, name: str | None = None) -> str:
        """A new bucket (moto takes an unsigned CreateBucket)."""
        name = name or f"blobs-{uuid.uuid4().hex[:12]}"
        response = httpx.put(f"{self.url}/{name}", timeout=10)
        response.raise_for_status()
        return name

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def s3_env(endpoint: str, bucket: str, prefix: str = "deepresearch") -> dict[str, str]:
    """What every process of a deployment sets to share the bucket."""
    return {
        "DEEPRESEARCH_BLOB_URL": f"s3://{bucket}/{prefix}",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_ALLOW_HTTP": "true",
    }


class TcpProxy:
    """127.0.0.1:port -> target port. `stop()` closes the listener and every open connection
    (the store is unreachable: connections are refused); `start()` listens again on the same
    port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = devserver.free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def stop(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            self._close(sock)


@contextmanager
def running_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A moto S3 server for a fixture's scope (its log in a fresh temporary folder)."""
    server = S3Server(tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()
