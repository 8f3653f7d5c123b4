"""SSRF: which URLs a webhook may reach, for literal addresses and names resolving anywhere."""

import pytest

from notifier.delivery.transport import webhook_client
from notifier.targets import TargetPolicy, TargetRefused
from tests.support.notifier import receiver

PUBLIC = "93.184.216.34"
STRICT = TargetPolicy()


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return table.get(host, [])

    return resolve


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("0.0.0.0", "address"),
        ("100.64.0.1", "address"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "address"),
    ],
)
async def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    with pytest.raises(TargetRefused, match=kind):
        await STRICT.resolve("https://hooks.example/h", resolver({"hooks.example": [address]}))


async def test_a_name_is_refused_if_any_of_its_addresses_is_not_public() -> None:
    table = {"mixed.example": [PUBLIC, "10.0.0.1"]}
    with pytest.raises(TargetRefused, match=r"10\.0\.0\.1"):
        await STRICT.resolve("https://mixed.example/h", resolver(table))


async def test_public_names_pass_and_unresolvable_ones_do_not() -> None:
    table = {"ok.example": [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"]}
    assert await STRICT.resolve("https://ok.example/h", resolver(table)) == table["ok.example"]
    with pytest.raises(TargetRefused, match="does not resolve"):
        await STRICT.resolve("https://nowhere.example/h", resolver({}))


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://ok.example/h", "https"),
        ("ftp://ok.example/h", "https"),
        ("https://user:pw@ok.example/h", "credentials"),
        ("https:///h", "no host"),
        ("https://metadata.google.internal/x", "metadata"),
        ("https://ok.example:99999/h", "not valid"),
    ],
)
async def test_url_shapes_are_checked_before_any_lookup(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        await STRICT.resolve(url, resolver({"ok.example": [PUBLIC]}))


async def test_development_allows_http_and_loopback_but_nothing_else_private() -> None:
    dev = TargetPolicy.build("development", None, None, [])
    table = {"localhost": ["127.0.0.1", "::1"], "lan.example": ["192.168.0.2"]}
    assert await dev.resolve("http://localhost:8080/h", resolver(table))
    with pytest.raises(TargetRefused, match="private"):
        await dev.resolve("http://lan.example/h", resolver(table))
    with pytest.raises(TargetRefused, match="link-local"):
        await dev.resolve("http://169.254.169.254/", resolver({}))
    production = TargetPolicy.build("production", None, None, [])
    with pytest.raises(TargetRefused, match="https"):
        production.check_url("http://localhost/h")


async def test_configured_networks_are_allowed_explicitly() -> None:
    policy = TargetPolicy.build("production", None, None, ["10.20.0.0/16"])
    table = {"internal.example": ["10.20.3.4"], "other.example": ["10.21.0.1"]}
    assert await policy.resolve("https://internal.example/h", resolver(table))
    with pytest.raises(TargetRefused):
        await policy.resolve("https://other.example/h", resolver(table))


async def test_the_client_checks_again_at_connection_time() -> None:
    """DNS rebinding: a name that resolved to a public address at subscription now points inside."""
    client = webhook_client(STRICT, 2.0, 4, resolver({"rebind.example": ["169.254.169.254"]}))
    async with client:
        with pytest.raises(TargetRefused, match="link-local"):
            await client.post("https://rebind.example/h", content=b"{}")


async def test_the_client_never_follows_redirects_nor_uses_proxies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        # nothing listens there: a call through the proxy would fail to connect
        monkeypatch.setenv(name, "http://127.0.0.1:9")
        monkeypatch.setenv(name.lower(), "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    loopback = TargetPolicy(allow_http=True, allow_loopback=True)
    # 307 keeps the method: a client following it would POST to the receiver a second time
    async with (
        receiver(script=[307], headers={"Location": "/elsewhere"}) as hook,
        webhook_client(loopback, 2.0, 4) as client,
    ):
        response = await client.post(hook.url, content=b"{}")
    assert response.status_code == 307  # the attempt's answer, not followed
    assert len(hook.requests) == 1  # reached directly, and once
    with pytest.raises(RuntimeError, match="closed"):
        await client.post(hook.url, content=b"{}")
