"""Where a webhook may point: public addresses only, unless configuration allows more (SSRF).

A URL is checked when it is subscribed and again at every connection: the host is resolved,
every address it resolves to must be allowed, and the connection goes to one of the
addresses just checked (no second lookup an attacker's DNS could answer differently).
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA_HOSTS = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data"}


class TargetRefused(ValueError):
    """The URL may not be called; the message says why, for the subscriber."""


@dataclass(frozen=True)
class TargetPolicy:
    allow_http: bool = False
    allow_loopback: bool = False
    allowed_networks: tuple[Network, ...] = field(default_factory=tuple)

    @classmethod
    def build(
        cls,
        environment: str,
        allow_http: bool | None,
        allow_loopback: bool | None,
        allowed_networks: Iterable[str],
    ) -> "TargetPolicy":
        development = environment == "development"
        return cls(
            development if allow_http is None else allow_http,
            development if allow_loopback is None else allow_loopback,
            tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks),
        )

    def check_url(self, url: str) -> tuple[str, int]:
        """(host, port) of an acceptable URL, before any lookup; TargetRefused otherwise."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise TargetRefused("the URL is not valid") from None
        if parts.scheme not in ("https", "http"):
            raise TargetRefused("the URL must start with https://")
        if parts.scheme == "http" and not self.allow_http:
            raise TargetRefused("the URL must use https")
        if not parts.hostname:
            raise TargetRefused("the URL has no host")
        if parts.username or parts.password:
            raise TargetRefused("the URL must not carry credentials")
        host = parts.hostname.rstrip(".").lower()
        if host in METADATA_HOSTS:
            raise TargetRefused(f"{host} is a cloud metadata service")
        return host, port or (443 if parts.scheme == "https" else 80)

    def check_address(self, host: str, address: str) -> None:
        ip = _ip(address)
        if any(ip in network for network in self.allowed_networks):
            return
        if ip.is_loopback and self.allow_loopback:
            return
        if not ip.is_global or ip.is_multicast:
            raise TargetRefused(
                f"{host} resolves to {ip}, {_kind(ip)}; webhooks must reach public addresses"
            )

    async def resolve(self, url: str, resolver: Resolver | None = None) -> list[str]:
        """Every address the URL's host resolves to, each of them allowed."""
        host, port = self.check_url(url)
        return await self.resolve_host(host, port, resolver)

    async def resolve_host(
        self, host: str, port: int, resolver: Resolver | None = None
    ) -> list[str]:
        if _literal(host):
            addresses = [host]
        else:
            addresses = await (resolver or system_resolver)(host, port)
        if not addresses:
            raise TargetRefused(f"{host} does not resolve")
        for address in addresses:
            self.check_address(host, address)
        return addresses


def _ip(address: str) -> IPAddress:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return mapped
    return ip


def _kind(ip: IPAddress) -> str:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast:
        return "a multicast address"
    return "a reserved address"


def _literal(host: str) -> bool:
    try:
        _ip(host)
    except ValueError:
        return False
    return True


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=5
        )
    except (OSError, TimeoutError):
        raise TargetRefused(f"{host} does not resolve") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
