"""SSRF guard for every outbound fetch of a URL chosen by the model or a page."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from activities.errors import ToolError

_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})


def _refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "loopback address"
    for reason, hit in (
        ("unspecified address", ip.is_unspecified),  # most specific first: these are
        ("link-local address", ip.is_link_local),  # "private" to Python too
        ("multicast address", ip.is_multicast),
        ("reserved address", ip.is_reserved),
        ("private address", ip.is_private),
    ):
        if hit:
            return reason
    if not ip.is_global:  # e.g. 100.64.0.0/10, where some clouds put their metadata service
        return "non-public address"
    return None


def check_url_shape(url: str) -> tuple[str, int]:
    """http(s) with a host; returns (host, port)."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        # urlsplit silently drops tabs and newlines, httpx refuses them: the host checked here
        # would not be the host requested.
        raise ToolError(f"invalid URL {url!r}: control character", url=url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ToolError(f"invalid URL {url!r}: {error}", url=url) from None
    if parts.scheme not in ("http", "https"):
        raise ToolError(f"refused {url!r}: only http and https URLs can be visited", url=url)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise ToolError(f"refused {url!r}: no host", url=url)
    if host in _METADATA_HOSTS:
        raise ToolError(f"refused {url!r}: cloud metadata host", url=url)
    return host, port or (443 if parts.scheme == "https" else 80)


async def check_url(url: str, *, allow_loopback: bool = False) -> str:
    """Refuse non-http(s) URLs and hosts that resolve to internal addresses; returns the
    address checked, for the caller to connect to (see `pinned`)."""
    host, port = check_url_shape(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ToolError(f"cannot resolve host of {url!r}: {error}", url=url) from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        reason = _refused(address, allow_loopback)
        if reason:
            raise ToolError(f"refused {url!r}: {host} resolves to a {reason}", url=url)
    return str(addresses[0])


def pinned(url: str, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """(URL, headers, extensions) that connect to the checked `address` while speaking to the
    original host (Host header, TLS SNI and certificate name), so a DNS answer that changes
    after the check (rebinding) cannot redirect the request."""
    original = httpx.URL(url)
    headers = {"Host": original.netloc.decode("ascii")}
    extensions = {"sni_hostname": original.host} if original.scheme == "https" else {}
    return original.copy_with(host=address), headers, extensions
