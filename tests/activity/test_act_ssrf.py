"""SSRF table: hostile URLs a model or a page could choose, every one refused with its reason."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import pytest

from activities.errors import ToolError
from activities.netguard import _DEPRECATED, check_reader_url, check_url, pinned

HOSTILE = [
    ("http://127.0.0.1/admin", "loopback"),
    ("http://localhost:8233/", "loopback"),
    ("http://localhost./", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://127.1/", "loopback"),  # short form
    ("http://0177.0.0.1/", "loopback"),  # octal
    ("http://2130706433/", "loopback"),  # decimal
    ("http://0x7f000001/", "loopback"),  # hex
    ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped IPv6
    ("http://[0:0:0:0:0:ffff:7f00:1]/", "loopback"),
    ("http://user:pass@127.0.0.1/", "loopback"),  # credentials in the authority
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/router", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # AWS/GCP/Azure metadata
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://100.100.100.200/", "non-public"),  # Alibaba Cloud metadata (shared space)
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fc00::1]/", "private"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("file:///etc/passwd", "only http and https"),
    ("ftp://example.com/file", "only http and https"),
    ("gopher://127.0.0.1:6379/_INFO", "only http and https"),
    ("javascript:alert(1)", "only http and https"),
    ("http:///no-host", "no host"),
    ("http://[::1", "invalid URL"),
    # IPv6 forms that carry an IPv4 address (Python calls most of them global)
    ("http://[2002:7f00:1::]/", "6to4 address embedding a loopback"),
    ("http://[2002:a9fe:a9fe::]/", "6to4 address embedding a link-local"),
    ("http://[2002:a00:1::]/", "6to4 address embedding a private"),
    ("http://[2002:c058:6301::]/", "6to4 address embedding a deprecated 6to4 relay"),
    ("http://[64:ff9b::7f00:1]/", "NAT64 address embedding a loopback"),
    ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 address embedding a link-local"),
    ("http://[64:ff9b::a00:1]/", "NAT64 address embedding a private"),
    ("http://[64:ff9b:1::808:808]/", "local-use NAT64"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo address embedding a private"),
    ("http://[2001:0:7f00:1::]/", "Teredo address embedding a loopback"),
    ("http://[::7f00:1]/", "IPv4-compatible address embedding a loopback"),
    ("http://[::808:808]/", "deprecated IPv4-compatible"),
    ("http://[::ffff:0:a9fe:a9fe]/", "reserved"),  # IPv4-translated (SIIT)
    # deprecated ranges
    ("http://[fec0::1]/", "deprecated site-local"),
    ("http://[feff::1]/", "deprecated site-local"),
    ("http://[3ffe::1]/", "deprecated 6bone"),
    ("http://192.88.99.1/", "deprecated 6to4 relay"),
    # what urlsplit silently drops, httpx refuses: the host checked would not be the one asked
    ("http://127.0.0.\t1/", "control character"),
    ("http://exa\nmple.com/", "control character"),
]


@pytest.mark.parametrize("check", [check_url, check_reader_url], ids=["direct", "reader"])
@pytest.mark.parametrize(("url", "reason"), HOSTILE, ids=[u for u, _ in HOSTILE])
async def test_hostile_url_is_refused_with_its_reason(
    url: str, reason: str, check: Callable[..., Awaitable[object]]
) -> None:
    with pytest.raises(ToolError) as refused:
        await check(url, allow_loopback=False)
    assert reason in str(refused.value)


# Public hosts in the same forms: a packet to them reaches a public IPv4 host.
PUBLIC = [
    "http://[2002:808:808::]/",  # 6to4 of 8.8.8.8
    "http://[64:ff9b::808:808]/",  # NAT64 of 8.8.8.8 (what DNS64 answers on IPv6-only hosts)
    "http://[2001:4860:4860::8888]/",
    "http://8.8.8.8/",
]


@pytest.mark.parametrize("url", PUBLIC)
async def test_public_hosts_in_embedding_forms_pass(url: str) -> None:
    await check_url(url, allow_loopback=False)
    await check_reader_url(url, allow_loopback=False)


@pytest.mark.parametrize(
    "url", ["http://[2002:7f00:1::]/", "http://[64:ff9b::7f00:1]/", "http://[::7f00:1]/"]
)
async def test_embedded_loopback_is_refused_even_with_allow_loopback(url: str) -> None:
    # The setting lets tests reach 127.0.0.1, never a loopback address inside another form.
    with pytest.raises(ToolError, match="loopback"):
        await check_url(url, allow_loopback=True)


async def test_reader_check_lets_unresolvable_names_through() -> None:
    await check_reader_url("https://no-such-host.invalid/page", allow_loopback=False)
    with pytest.raises(ToolError, match="cannot resolve"):
        await check_url("https://no-such-host.invalid/page", allow_loopback=False)


def test_the_table_covers_every_deprecated_range_netguard_knows() -> None:
    """The product's own list of ranges, not the table's size: a range added to netguard
    without a URL here fails."""

    def address(url: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            return ipaddress.ip_address((urlsplit(url).hostname or "").strip("[]"))
        except ValueError:
            return None

    for network, reason in _DEPRECATED:
        hits = [(url, why) for url, why in HOSTILE if (ip := address(url)) is not None
                and ip.version == network.version and ip in network]  # fmt: skip
        assert hits, f"no URL in {network} ({reason})"
        assert all(why in reason for _, why in hits), hits


async def test_loopback_only_with_the_explicit_setting() -> None:
    await check_url("http://127.0.0.1:9/", allow_loopback=True)
    with pytest.raises(ToolError, match="private"):
        await check_url("http://10.0.0.1/", allow_loopback=True)  # the setting is loopback only


def test_requests_are_pinned_to_the_checked_address() -> None:
    """DNS rebinding: the connection goes to the address that was checked, not to whatever the
    name resolves to a moment later; the server still sees its own name."""
    target, headers, extensions = pinned("https://example.com:8443/a?b=1", "93.184.216.34")
    assert str(target) == "https://93.184.216.34:8443/a?b=1"
    assert headers == {"Host": "example.com:8443"}
    assert extensions == {"sni_hostname": "example.com"}
    target, headers, extensions = pinned("http://example.com/", "2001:db8::1")
    assert str(target) == "http://[2001:db8::1]/"
    assert headers == {"Host": "example.com"} and extensions == {}


async def test_check_url_returns_the_address_it_checked() -> None:
    assert await check_url("http://127.0.0.1:9/", allow_loopback=True) == "127.0.0.1"


@pytest.mark.parametrize(
    ("url", "message"),
    [  # the whole sentence a model reads, for each kind of address
        ("http://0.0.0.0/", "0.0.0.0 resolves to a unspecified address"),
        ("http://224.0.0.1/", "224.0.0.1 resolves to a multicast address"),
        ("http://240.0.0.1/", "240.0.0.1 resolves to a reserved address"),
        ("http://100.100.100.200/", "100.100.100.200 resolves to a non-public address"),
        ("http://[64:ff9b:1::808:808]/",
         "64:ff9b:1::808:808 resolves to a non-public address (local-use NAT64)"),
        ("http://[::808:808]/", "::808:808 resolves to a deprecated IPv4-compatible address"),
        ("http://[::2]/", "::2 resolves to a IPv4-compatible address embedding a private address"),
    ],
)  # fmt: skip
async def test_refusals_say_exactly_why(url: str, message: str) -> None:
    with pytest.raises(ToolError) as caught:
        await check_url(url, allow_loopback=False)
    assert str(caught.value) == f"refused {url!r}: {message}"
    assert caught.value.context == {"url": url}  # the failing URL travels with the error


async def test_an_unresolvable_host_names_its_url() -> None:
    url = "https://no-such-host.invalid/page"
    with pytest.raises(ToolError) as caught:
        await check_url(url, allow_loopback=False)
    assert caught.value.context == {"url": url}


async def test_a_scoped_link_local_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo gives IPv6 link-local answers with their zone (`fe80::1%eth0`)."""
    loop = asyncio.get_running_loop()

    async def getaddrinfo(*_: object, **__: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%lo", 80, 0, 1))]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    with pytest.raises(ToolError, match="resolves to a link-local address"):
        await check_url("http://printer.lan/", allow_loopback=False)
