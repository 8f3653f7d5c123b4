"""SSRF edges: IPv6 forms that carry an internal IPv4 address, and ports off the web's own."""

import pytest

from notifier.delivery.transport import webhook_client
from notifier.targets import TargetPolicy, TargetRefused

STRICT = TargetPolicy.build("production", None, None, [])


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return table.get(host, [])

    return resolve


@pytest.mark.parametrize(
    "address, reason",
    [
        ("::10.0.0.1", r"reaches 10\.0\.0\.1.*private"),  # IPv4-compatible
        ("::127.0.0.1", r"reaches 127\.0\.0\.1.*loopback"),
        ("::169.254.169.254", "link-local"),
        ("::ffff:192.168.1.1", "private"),  # IPv4-mapped
        ("64:ff9b::a00:1", r"reaches 10\.0\.0\.1.*private"),  # NAT64, well-known prefix
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("64:ff9b:1::808:808", "local-use NAT64"),  # even with a public IPv4 inside
        ("2002:a00:1::1", r"reaches 10\.0\.0\.1.*private"),  # 6to4
        ("2002:7f00:1::", "loopback"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("2001:0:5ef5:79fd:0:0:0:1", "Teredo"),
        ("::ffff:0:a00:1", r"reaches 10\.0\.0\.1.*private"),  # SIIT, IPv4-translated
        ("::ffff:0:a9fe:a9fe", "link-local"),
        ("fec0::1", "site-local"),
    ],
)
async def test_ipv6_forms_carrying_an_internal_address_are_refused(
    address: str, reason: str
) -> None:
    with pytest.raises(TargetRefused, match=reason):
        await STRICT.resolve("https://hooks.example/h", resolver({"hooks.example": [address]}))
    with pytest.raises(TargetRefused, match=reason):
        await STRICT.resolve(f"https://[{address}]/h")


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"])
async def test_ipv6_forms_carrying_a_public_address_pass(address: str) -> None:
    assert await STRICT.resolve(f"https://[{address}]/h") == [address]


@pytest.mark.parametrize("port", [22, 25, 6379, 8080, 9200])
async def test_a_non_standard_port_is_refused_outside_development(port: int) -> None:
    table = {"hooks.example": ["93.184.216.34"]}
    with pytest.raises(TargetRefused, match=f"port {port} is not allowed"):
        await STRICT.resolve(f"https://hooks.example:{port}/h", resolver(table))


@pytest.mark.parametrize("port", [443, 80, 8443])
async def test_the_standard_ports_pass(port: int) -> None:
    policy = TargetPolicy.build("production", True, None, [])
    table = {"hooks.example": ["93.184.216.34"]}
    assert await policy.resolve(f"http://hooks.example:{port}/h", resolver(table))


async def test_ports_are_free_in_development_and_on_allowed_networks() -> None:
    table = {"hooks.example": ["93.184.216.34"], "inside.example": ["10.20.0.5"]}
    dev = TargetPolicy.build("development", None, None, [])
    assert await dev.resolve("https://hooks.example:9000/h", resolver(table))
    local = TargetPolicy.build("test", True, True, ["10.20.0.0/16"])
    assert await local.resolve("http://127.0.0.1:9000/h")
    assert await local.resolve("https://inside.example:9000/h", resolver(table))
    configured = TargetPolicy.build("production", None, None, [], [9443])
    assert await configured.resolve("https://hooks.example:9443/h", resolver(table))
    with pytest.raises(TargetRefused, match="port 443"):
        await configured.resolve("https://hooks.example/h", resolver(table))


async def test_the_connection_is_checked_for_embedded_addresses_too() -> None:
    """DNS rebinding to a NAT64 form of the metadata address is caught when connecting."""
    table = {"rebind.example": ["64:ff9b::a9fe:a9fe"]}
    async with webhook_client(STRICT, 2.0, 4, resolver(table)) as client:
        with pytest.raises(TargetRefused, match="link-local"):
            await client.post("https://rebind.example/h", content=b"{}")


async def test_the_connection_is_checked_for_its_port() -> None:
    table = {"hooks.example": ["93.184.216.34"]}
    async with webhook_client(STRICT, 2.0, 4, resolver(table)) as client:
        with pytest.raises(TargetRefused, match="port 6379"):
            await client.post("https://hooks.example:6379/h", content=b"{}")
