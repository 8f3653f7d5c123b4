"""Where a webhook may point: public addresses only, unless configuration allows more (SSRF).

A URL is checked when it is subscribed and again at every connection: the host is resolved,
every address it resolves to must be allowed, and the connection goes to one of the
addresses just checked (no second lookup an attacker's DNS could answer differently).

An IPv6 address that carries an IPv4 one (mapped, translated, compatible, 6to4, NAT64) is
judged by the IPv4 address it reaches; the forms whose IPv4 address cannot be read off
reliably (Teredo, local-use NAT64) are refused outright, as is deprecated site-local.
Outside development a public address is reached only on the standard web ports.
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
STANDARD_PORTS = (443, 80, 8443)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT's IPv4-translated addresses
# Teredo's client address is obfuscated and local-use NAT64 may embed anywhere: no reading
REFUSED_V6 = {
    ipaddress.ip_network("2001::/32"): "a Teredo address",
    ipaddress.ip_network("64:ff9b:1::/48"): "a local-use NAT64 address",
    ipaddress.ip_network("fec0::/10"): "a site-local address",
}


class TargetRefused(ValueError):
    """The URL may not be called; the message says why, for the subscriber."""


@dataclass(frozen=True)
class TargetPolicy:
    allow_http: bool = False
    allow_loopback: bool = False
    allowed_networks: tuple[Network, ...] = field(default_factory=tuple)
    ports: frozenset[int] | None = None  # None: any port

    @classmethod
    def build(
        cls,
        environment: str,
        allow_http: bool | None,
        allow_loopback: bool | None,
        allowed_networks: Iterable[str],
        allowed_ports: Iterable[int] = STANDARD_PORTS,
    ) -> "TargetPolicy":
        development = environment == "development"
        return cls(
            development if allow_http is None else allow_http,
            development if allow_loopback is None else allow_loopback,
            tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks),
            None if development else frozenset(allowed_ports),
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

    def check_address(self, host: str, address: str, port: int | None = None) -> None:
        """Refuse an address webhooks may not reach; the networks configured as allowed (and
        loopback when allowed) may be reached on any port."""
        raw = ipaddress.ip_address(address.split("%", 1)[0])
        ip = _embedded(raw)
        if any(a in network for a in (raw, ip) for network in self.allowed_networks):
            return
        if ip.is_loopback and self.allow_loopback:
            return
        if not ip.is_global or ip.is_multicast or _refused_range(raw):
            shown = f"{raw} (which reaches {ip})" if ip != raw else str(ip)
            raise TargetRefused(
                f"{host} resolves to {shown}, {_kind(raw, ip)}; "
                "webhooks must reach public addresses"
            )
        if port is not None and self.ports is not None and port not in self.ports:
            allowed = ", ".join(str(p) for p in sorted(self.ports))
            raise TargetRefused(f"port {port} is not allowed; webhooks use ports {allowed}")

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
            self.check_address(host, address, port)
        return addresses


def _embedded(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (mapped, translated, compatible, 6to4, NAT64),
    else itself."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return ip
    carried = ip.ipv4_mapped or ip.sixtofour
    if carried is not None:
        return carried
    low = int(ip) & 0xFFFFFFFF
    if ip in NAT64 or ip in TRANSLATED or (int(ip) >> 32 == 0 and low > 1):  # not :: nor ::1
        return ipaddress.IPv4Address(low)
    return ip


def _refused_range(ip: IPAddress) -> str | None:
    return next((kind for net, kind in REFUSED_V6.items() if ip in net), None)


def _kind(raw: IPAddress, ip: IPAddress) -> str:
    refused = _refused_range(raw)
    if refused:
        return refused
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
        ipaddress.ip_address(host.split("%", 1)[0])
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
