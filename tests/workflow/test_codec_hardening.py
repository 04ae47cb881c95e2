"""The codec server over real HTTP: the Temporal UI's calls work, everyone else's are refused
cleanly (host, origin, token, sizes, stalls, bad blobs) and never take the server down."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from activities.blobstore import LocalBlobStore
from activities.claimcheck import ENCODING
from tests.conftest import CLI, REPO
from workers.hosting import devserver

TOKEN = "s3cret-codec-token"
UI = "http://127.0.0.1:8233"


@dataclass
class Codec:
    port: int
    process: subprocess.Popen[bytes]
    store: LocalBlobStore
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        )


def start_codec(tmp: Path, *flags: str, **env: str) -> Codec:
    data = tmp / "data"
    port = devserver.free_port()
    log = tmp / "codec.log"
    process = subprocess.Popen(
        [*CLI, "codec-server", "--port", str(port), *flags],
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp),
            "PYTHONPATH": str(REPO),
            "DEEPRESEARCH_DATA_DIR": str(data),
            **env,
        },
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115 - handed to the child
    )
    devserver.wait_for_port(port, 30, process)
    return Codec(port, process, LocalBlobStore(data / "blobs"), log)


def stop(codec: Codec) -> None:
    codec.process.terminate()
    codec.process.wait(10)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Codec]:
    """A token, small caps and a short read timeout; /encode left off (the default)."""
    codec = start_codec(
        tmp_path_factory.mktemp("guarded"),
        DEEPRESEARCH_CODEC_TOKEN=TOKEN,
        DEEPRESEARCH_CODEC_MAX_BODY_BYTES=str(64 * 1024),
        DEEPRESEARCH_CODEC_MAX_DECODED_BYTES=str(1024 * 1024),
        DEEPRESEARCH_CODEC_READ_TIMEOUT_SECONDS="1",
    )
    yield codec
    stop(codec)
    assert b"Traceback" not in codec.log.read_bytes()


@pytest.fixture(scope="module")
def open_codec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Codec]:
    """No token, /encode on: what `deepresearch codec-server --allow-encode` serves."""
    codec = start_codec(tmp_path_factory.mktemp("open"), "--allow-encode")
    yield codec
    stop(codec)
    assert b"Traceback" not in codec.log.read_bytes()


def claim_check(store: LocalBlobStore, blob: bytes) -> Payload:
    return Payload(metadata={"encoding": ENCODING}, data=store.put(blob).encode())


def stored(store: LocalBlobStore, text: str) -> Payload:
    """A payload as the workers' codec leaves it in history."""
    inner = Payload(metadata={"encoding": b"json/plain"}, data=text.encode())
    return claim_check(store, zlib.compress(inner.SerializeToString()))


def body(*payloads: Payload) -> bytes:
    return json_format.MessageToJson(Payloads(payloads=payloads)).encode()


def texts(response: httpx.Response) -> list[str]:
    return [base64.b64decode(p["data"]).decode() for p in response.json()["payloads"]]


def post(codec: Codec, path: str, content: bytes, **headers: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", **headers}
    return httpx.post(codec.url + path, content=content, headers=headers, timeout=10)


def authed(**headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", **headers}


def raw(codec: Codec, request: bytes, wait: float = 5) -> tuple[bytes, float]:
    """Send bytes as they are and read the reply until the server closes: (reply, seconds)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", codec.port), timeout=wait) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply, time.monotonic() - started


# -- what the Temporal UI sends ----------------------------------------------------------------


def test_ui_decode_with_query_string_namespace_and_origin(open_codec: Codec) -> None:
    payload = stored(open_codec.store, "the page said: reinforcement learning")
    for origin in ("http://127.0.0.1:8233", "http://localhost:8233"):
        preflight = httpx.options(
            open_codec.url + "/decode?preserveStorageRefs=true",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == origin
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "x-namespace" in allowed and "content-type" in allowed
        reply = post(
            open_codec,
            "/decode?preserveStorageRefs=true",
            body(payload),
            **{"X-Namespace": "default", "Origin": origin},
        )
        assert reply.status_code == 200, reply.text
        assert reply.headers["access-control-allow-origin"] == origin
        assert texts(reply) == ["the page said: reinforcement learning"]


def test_encode_when_allowed_round_trips(open_codec: Codec) -> None:
    large = Payload(metadata={"encoding": b"json/plain"}, data=b'"' + b"x" * 5000 + b'"')
    encoded = post(open_codec, "/encode", body(large))
    assert encoded.status_code == 200
    (claim,) = encoded.json()["payloads"]
    assert base64.b64decode(claim["metadata"]["encoding"]) == ENCODING
    decoded = post(open_codec, "/decode", encoded.content)
    assert texts(decoded) == ['"' + "x" * 5000 + '"']


# -- who may call ---------------------------------------------------------------------------


def test_foreign_origin_is_refused_even_as_a_simple_request(open_codec: Codec) -> None:
    """A page elsewhere can POST text/plain without a preflight; it must not store anything."""
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    reply = httpx.post(open_codec.url + "/encode", content=b"A" * 100_000, headers=evil)
    assert reply.status_code == 403
    assert "access-control-allow-origin" not in reply.headers
    assert "not allowed" in reply.json()["error"]
    preflight = httpx.options(open_codec.url + "/decode", headers={"Origin": "http://evil.example"})
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    # Without an Origin (the temporal CLI), a non-JSON body is refused too.
    plain = httpx.post(
        open_codec.url + "/encode", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert plain.status_code == 415


def test_dns_rebinding_host_is_refused(guarded: Codec) -> None:
    payload = stored(guarded.store, "secret")
    for host in ("evil.example", f"evil.example:{guarded.port}"):
        reply = post(guarded, "/decode", body(payload), **authed(Host=host))
        assert reply.status_code == 403 and "host" in reply.json()["error"]
    ok = post(guarded, "/decode", body(payload), **authed(Host=f"localhost:{guarded.port}"))
    assert ok.status_code == 200


def test_bearer_token(guarded: Codec) -> None:
    payload = stored(guarded.store, "behind a token")
    missing = post(guarded, "/decode", body(payload))
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = post(guarded, "/decode", body(payload), Authorization="Bearer nope")
    assert wrong.status_code == 401
    assert texts(post(guarded, "/decode", body(payload), **authed())) == ["behind a token"]
    # Browsers send no credentials on a preflight; it is answered without one.
    preflight = httpx.options(guarded.url + "/decode", headers={"Origin": UI})
    assert preflight.status_code == 204
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


def test_encode_is_off_by_default(guarded: Codec) -> None:
    reply = post(guarded, "/encode", body(Payload(data=b"x")), **authed())
    assert reply.status_code == 403 and "--allow-encode" in reply.json()["error"]
    assert post(guarded, "/nothing", body(), **authed()).status_code == 404
    assert httpx.get(guarded.url + "/decode").status_code == 405


# -- sizes and bad input ------------------------------------------------------------------------


def test_body_over_the_cap_is_refused_unread(guarded: Codec) -> None:
    request = (
        f"POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {70 * 1024 * 1024}\r\n\r\n"
    ).encode()
    reply, seconds = raw(guarded, request)  # sends no body at all: refused on the header
    assert reply.startswith(b"HTTP/1.1 413"), reply
    assert seconds < 1


def test_zlib_bomb_stops_at_the_decoded_cap(guarded: Codec) -> None:
    bomb = zlib.compress(b"\0" * (256 * 1024 * 1024), 9)  # 256 MiB from about 250 KiB
    payload = claim_check(guarded.store, bomb)
    before = guarded.rss_kib()
    reply = post(guarded, "/decode", body(payload), **authed())
    after = guarded.rss_kib()
    print(f"zlib bomb {len(bomb)} bytes -> 256 MiB: codec RSS {before} KiB -> {after} KiB")
    assert reply.status_code == 413 and "inflates past" in reply.json()["error"]
    assert after - before < 32 * 1024
    # Many payloads, each under the cap, are capped as a whole as well.
    many = [stored(guarded.store, "y" * (300 * 1024) + str(i)) for i in range(5)]
    assert post(guarded, "/decode", body(*many), **authed()).status_code == 413


@pytest.mark.parametrize(
    ("blob", "status"),
    [
        (b"not zlib at all", 422),
        (zlib.compress(b"\xff\xff\xff not a protobuf"), 422),
        (zlib.compress(bytes(range(256)) * 8)[:40], 422),  # truncated stream
    ],
)
def test_malformed_blobs_get_a_json_error(guarded: Codec, blob: bytes, status: int) -> None:
    reply = post(guarded, "/decode", body(claim_check(guarded.store, blob)), **authed())
    assert reply.status_code == status, reply.text
    assert "error" in reply.json()


def test_missing_blob_bad_digest_and_bad_json(guarded: Codec) -> None:
    missing = Payload(metadata={"encoding": ENCODING}, data=b"sha256:" + b"0" * 64)
    reply = post(guarded, "/decode", body(missing), **authed())
    assert reply.status_code == 404 and str(guarded.store.root) not in reply.text
    bad = Payload(metadata={"encoding": ENCODING}, data=b"../../etc/passwd")
    assert post(guarded, "/decode", body(bad), **authed()).status_code == 422
    assert post(guarded, "/decode", b"{not json", **authed()).status_code == 400


# -- raw sockets: lengths and stalls ------------------------------------------------------------


def head(length: str) -> bytes:
    return (
        f"POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_negative_or_bogus_content_length_is_refused_at_once(guarded: Codec) -> None:
    for length in ("-1", "abc", "1e3"):
        reply, seconds = raw(guarded, head(length) + b"{}")
        assert reply.startswith(b"HTTP/1.1 400"), reply
        assert b'"error"' in reply and seconds < 1
    reply, _ = raw(guarded, head("0").replace(b"Content-Length: 0\r\n", b""))
    assert reply.startswith(b"HTTP/1.1 411"), reply


def test_short_body_times_out_without_blocking_others(guarded: Codec) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as stalled:
        stalled.sendall(head("100") + b'{"payloads"')  # 11 of 100 bytes, then silence
        # Meanwhile another caller is served.
        ok = post(guarded, "/decode", body(stored(guarded.store, "still here")), **authed())
        assert texts(ok) == ["still here"]
        reply = stalled.recv(65536)
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert time.monotonic() - started < 5
    # A body that ends early (the client closes) is a 400, not a hang.
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as short:
        short.sendall(head("100") + b"{}")
        short.shutdown(socket.SHUT_WR)
        assert short.recv(65536).startswith(b"HTTP/1.1 400")


def test_garbage_request_line_gets_json(guarded: Codec) -> None:
    reply, _ = raw(guarded, b"\x16\x03\x01 hello\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400"), reply
    assert b'"error"' in reply
    assert guarded.process.poll() is None
