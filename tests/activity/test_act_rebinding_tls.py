"""DNS rebinding over https: the pinned connection goes to the checked address yet speaks to
the original name — TLS SNI and the certificate check both use it, not the address. A name
answering 127.0.0.2 then 127.0.0.3 (test_act_rebinding's resolver) reaches only 127.0.0.2."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from activities.context import ToolContext
from activities.read import read_page
from tests.activity.test_act_rebinding import NAME, direct, rebinding


class TlsRecorder:
    """An https server on one loopback address, recording the SNI of every handshake and the
    Host of every request; its certificate names only NAME (no IP address)."""

    def __init__(self, address: str, port: int, certificate: Path, key: Path) -> None:
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []
        hosts = self.hosts

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                hosts.append(self.headers.get("Host", ""))
                body = f"<html><body><p>served by {address} over TLS</p></body></html>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        context.sni_callback = lambda _socket, name, _context: self.server_names.append(name)
        self.server = ThreadingHTTPServer((address, port), Handler, bind_and_activate=False)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.server.server_bind()
        self.server.server_activate()
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for NAME alone (the client trusts it and nothing else)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_servers(certificate: tuple[Path, Path]) -> Iterator[tuple[TlsRecorder, TlsRecorder]]:
    """The checked address and the rebinding target, on one port, with the same certificate
    (so only the address, never the certificate, tells them apart)."""
    checked = TlsRecorder("127.0.0.2", 0, *certificate)
    internal = TlsRecorder("127.0.0.3", checked.port, *certificate)
    yield checked, internal
    checked.close()
    internal.close()


async def test_https_goes_to_the_checked_address_with_the_names_sni(
    tools: ToolContext,
    tls_servers: tuple[TlsRecorder, TlsRecorder],
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked, internal = tls_servers
    given = rebinding(monkeypatch, "127.0.0.2", "127.0.0.3")
    trust = ssl.create_default_context(cafile=str(certificate[0]))  # verifies the name
    async with httpx.AsyncClient(timeout=10, verify=trust) as http:
        text = await read_page(direct(tools, http), f"https://{NAME}:{checked.port}/page")
    assert "served by 127.0.0.2 over TLS" in text
    assert checked.server_names == [NAME]  # SNI is the name, not 127.0.0.2
    assert checked.hosts == [f"{NAME}:{checked.port}"]
    assert internal.server_names == [] and internal.hosts == []  # no handshake, no request
    assert given == ["127.0.0.2"]
