"""SSRF table: hostile URLs a model or a page could choose, every one refused with its reason."""

from __future__ import annotations

import pytest

from activities.errors import ToolError
from activities.netguard import check_url, pinned

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
]


@pytest.mark.parametrize(("url", "reason"), HOSTILE, ids=[u for u, _ in HOSTILE])
async def test_hostile_url_is_refused_with_its_reason(url: str, reason: str) -> None:
    with pytest.raises(ToolError) as refused:
        await check_url(url, allow_loopback=False)
    assert reason in str(refused.value)


def test_the_table_is_large_enough() -> None:
    assert len(HOSTILE) >= 25


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
