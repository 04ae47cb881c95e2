"""SSRF guard for every outbound fetch of a URL chosen by the model or a page."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from activities.errors import ToolError

_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges Python's `is_global` lets through although nothing public lives there any more.
_DEPRECATED = (
    (ipaddress.ip_network("fec0::/10"), "deprecated site-local address"),  # RFC 3879
    (ipaddress.ip_network("3ffe::/16"), "deprecated 6bone address"),  # RFC 3701
    (ipaddress.ip_network("192.88.99.0/24"), "deprecated 6to4 relay address"),  # RFC 7526
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local-use translation
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291: deprecated ::a.b.c.d


def _embedded(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, with the form's name: a packet to it ends
    up at them (6to4 relays, Teredo, NAT64 gateways, IPv4-compatible stacks)."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        server, client = ip.teredo
        found += [("Teredo", server), ("Teredo", client)]
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        found.append(("NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: or ::1, which have their own reasons
        found.append(("IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    return found


def _refused(ip: IPAddress, allow_loopback: bool) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "loopback address"
    if isinstance(ip, ipaddress.IPv6Address):
        for form, inner in _embedded(ip):
            reason = _refused(inner, allow_loopback=False)  # a test's loopback is never here
            if reason:
                return f"{form} address embedding a {reason}"
        if ip in _NAT64_LOCAL:
            return "non-public address (local-use NAT64)"
        if ip in _IPV4_COMPATIBLE:
            return "deprecated IPv4-compatible address"
        if ip in _NAT64:
            return None  # a public IPv4 host behind the network's NAT64 gateway (DNS64)
    for network, reason in _DEPRECATED:
        if ip.version == network.version and ip in network:
            return reason
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


async def _resolve(host: str, port: int, url: str) -> list[IPAddress]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ToolError(f"cannot resolve host of {url!r}: {error}", url=url) from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def _refuse_any(addresses: list[IPAddress], host: str, url: str, allow_loopback: bool) -> None:
    for address in addresses:
        reason = _refused(address, allow_loopback)
        if reason:
            raise ToolError(f"refused {url!r}: {host} resolves to a {reason}", url=url)


async def check_url(url: str, *, allow_loopback: bool = False) -> str:
    """Refuse non-http(s) URLs and hosts that resolve to internal addresses; returns the
    address checked, for the caller to connect to (see `pinned`)."""
    host, port = check_url_shape(url)
    addresses = await _resolve(host, port, url)
    _refuse_any(addresses, host, url, allow_loopback)
    return str(addresses[0])


async def check_reader_url(url: str, *, allow_loopback: bool = False) -> None:
    """The same rules for a URL a reader service (Jina Reader, a self-hosted one) fetches on
    our behalf, so a reader inside the network cannot be aimed at its neighbours. The reader
    resolves the name itself, so nothing can be pinned, and a name our resolver does not know
    passes: it shows us no internal address, and the hosted reader resolves public names that
    a locked-down worker may not."""
    host, port = check_url_shape(url)
    try:
        addresses = await _resolve(host, port, url)
    except ToolError:
        return
    _refuse_any(addresses, host, url, allow_loopback)


def pinned(url: str, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """(URL, headers, extensions) that connect to the checked `address` while speaking to the
    original host (Host header, TLS SNI and certificate name), so a DNS answer that changes
    after the check (rebinding) cannot redirect the request."""
    original = httpx.URL(url)
    headers = {"Host": original.netloc.decode("ascii")}
    extensions = {"sni_hostname": original.host} if original.scheme == "https" else {}
    return original.copy_with(host=address), headers, extensions


async def is_public(url: str) -> bool:
    """Whether `url` is a public web page: every address its host resolves to is one netguard
    lets through without the loopback allowance. A name that does not resolve here counts as
    private (an intranet's name may resolve elsewhere): what such a page holds is kept apart
    per tenant by the research cache."""
    try:
        host, port = check_url_shape(url)
        addresses = await _resolve(host, port, url)
    except ToolError:
        return False
    return bool(addresses) and all(_refused(a, allow_loopback=False) is None for a in addresses)
