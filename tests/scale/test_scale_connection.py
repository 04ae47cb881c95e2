"""Temporal connection settings: TEMPORAL_TLS_* and TEMPORAL_API_KEY -> `Client.connect` arguments,
and a real mTLS connection through a TLS frontend (the dev server itself has no TLS flags)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import TLSConfig

from activities.errors import ConfigurationError
from workers.config import Settings
from workers.hosting import devserver
from workers.hosting.research_worker import connection_options


def settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for `temporal.test` and 127.0.0.1, a client certificate."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=test-ca", cwd=d)  # fmt: skip
    (d / "server.ext").write_text(
        "subjectAltName=DNS:temporal.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    )
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")  # v3, as rustls wants
    for name, subject in (("server", "/CN=temporal.test"), ("client", "/CN=worker")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", subject, cwd=d)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
                cwd=d)  # fmt: skip
    return d


def test_plain_by_default() -> None:
    assert connection_options(settings()) == {"namespace": "default", "tls": False, "api_key": None}


def test_api_key_implies_tls() -> None:
    options = connection_options(settings(temporal_api_key="k-123", temporal_namespace="ns.acct"))
    assert options == {"namespace": "ns.acct", "tls": True, "api_key": "k-123"}


def test_mtls_files_and_server_name(pki: Path) -> None:
    options = connection_options(
        settings(
            temporal_tls_cert=pki / "client.pem",
            temporal_tls_key=pki / "client.key",
            temporal_tls_ca=pki / "ca.pem",
            temporal_tls_server_name="temporal.test",
        )
    )
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == (pki / "client.pem").read_bytes()
    assert tls.client_private_key == (pki / "client.key").read_bytes()
    assert tls.server_root_ca_cert == (pki / "ca.pem").read_bytes()
    assert tls.domain == "temporal.test"


def test_server_name_alone_is_tls_with_system_roots() -> None:
    tls = connection_options(settings(temporal_tls_server_name="t.example"))["tls"]
    assert isinstance(tls, TLSConfig) and tls.server_root_ca_cert is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"temporal_tls_cert": "client.pem"},
            "invalid setting TEMPORAL_TLS_KEY: TEMPORAL_TLS_CERT is set; mTLS needs both",
        ),
        (
            {"temporal_tls_key": "client.key"},
            "invalid setting TEMPORAL_TLS_CERT: TEMPORAL_TLS_KEY is set; mTLS needs both",
        ),
        ({"temporal_tls_ca": "missing.pem"}, "invalid setting TEMPORAL_TLS_CA: cannot read"),
        ({"temporal_tls_ca": "client.ext"}, "invalid setting TEMPORAL_TLS_CA: "),
        (
            {"temporal_tls": False, "temporal_api_key": "k"},
            "invalid setting TEMPORAL_TLS: it is off, but",
        ),
    ],
)
def test_bad_settings_are_one_line(pki: Path, values: dict[str, object], message: str) -> None:
    values = {k: pki / v if k.endswith(("cert", "key", "ca")) and k != "temporal_api_key" else v
              for k, v in values.items()}  # fmt: skip
    with pytest.raises(ConfigurationError) as caught:
        connection_options(settings(**values))
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def test_mtls_through_a_tls_frontend(pki: Path, temporal_address: str) -> None:
    """A TLS-terminating frontend (h2 over TLS, client certificates required) in front of the
    dev server: the settings connect; without the client certificate the handshake fails."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki / "ca.pem")
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, port = temporal_address.rsplit(":", 1)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    listen_port = devserver.free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, ssl=context)
    address = f"127.0.0.1:{listen_port}"
    try:
        good = settings(
            temporal_tls_cert=pki / "client.pem",
            temporal_tls_key=pki / "client.key",
            temporal_tls_ca=pki / "ca.pem",
            temporal_tls_server_name="temporal.test",
        )
        client = await Client.connect(address, **connection_options(good))
        # a real RPC over mTLS, answered by the server behind the frontend: the namespace it
        # describes is the one a direct connection sees (same id)
        request = DescribeNamespaceRequest(namespace=client.namespace)
        over_tls = await client.workflow_service.describe_namespace(request)
        direct = await Client.connect(temporal_address)
        plain = await direct.workflow_service.describe_namespace(request)
        assert over_tls.namespace_info.name == "default"
        assert over_tls.namespace_info.id == plain.namespace_info.id != ""
        no_cert = settings(temporal_tls_ca=pki / "ca.pem", temporal_tls_server_name="temporal.test")
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(Client.connect(address, **connection_options(no_cert)), 30)
    finally:
        server.close()
