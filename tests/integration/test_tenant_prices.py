"""A tenant's price per conversion on ``/v1/admin/tenants/{tenant}`` (real SecantusDB):
merge semantics beside the limits, the refusals (422 ``invalid_price``, nothing written) and
every process's cache seeing a new price within its refresh period."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.bootstrap import Infra
from shared.settings import InfraSettings
from shared.tenant_repository import COLLECTION
from shared.tenants import MAX_PRICE_CENTS, TenantLimits, TenantPrice, TenantSettings
from tests.support.upload_api import served_upload_api

ADMIN_KEY = f"sk_admin_{uuid.uuid4().hex}"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
URL = "/v1/admin/tenants/acme"
FREE = {"price_cents": 0, "currency": "BRL", "due_days": 3}


@pytest.fixture
async def api(infra_settings: InfraSettings, infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    async with served_upload_api(infra_settings, dev_admin_key=ADMIN_KEY) as client:
        yield client


def _price(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    return {name: answer.json()[name] for name in FREE}


async def test_a_tenant_never_patched_is_free(api: httpx.AsyncClient, infra: Infra) -> None:
    assert _price(await api.get(URL, headers=ADMIN)) == FREE
    price = await TenantSettings(infra.db).price("acme")
    assert price == TenantPrice() and price.free


async def test_a_price_is_set_and_read_back(api: httpx.AsyncClient, infra: Infra) -> None:
    body = {"price_cents": 990, "currency": "BRL", "due_days": 5}
    assert _price(await api.patch(URL, json=body, headers=ADMIN)) == body
    assert _price(await api.get(URL, headers=ADMIN)) == body
    stored = await infra.db[COLLECTION].find_one({"_id": "acme"})
    assert stored is not None and stored["price"] == body
    assert not (await infra.tenants.price("acme")).free


async def test_a_patch_keeps_the_limits_and_the_other_price_fields(api: httpx.AsyncClient) -> None:
    await api.patch(URL, json={"limits": {"burst": 7}, "due_days": 10}, headers=ADMIN)
    answer = await api.patch(URL, json={"price_cents": 990}, headers=ADMIN)
    assert _price(answer) == {**FREE, "price_cents": 990, "due_days": 10}
    assert answer.json()["limits"] == {**TenantLimits().model_dump(), "burst": 7}
    limits_only = await api.patch(URL, json={"limits": {"burst": 8}}, headers=ADMIN)
    assert _price(limits_only) == {**FREE, "price_cents": 990, "due_days": 10}


async def test_null_puts_a_field_back_to_its_default(api: httpx.AsyncClient, infra: Infra) -> None:
    await api.patch(URL, json={"price_cents": 990, "due_days": 10}, headers=ADMIN)
    answer = await api.patch(URL, json={"price_cents": None}, headers=ADMIN)
    assert _price(answer) == {**FREE, "due_days": 10}
    stored = await infra.db[COLLECTION].find_one({"_id": "acme"})
    assert stored is not None and stored["price"] == {"due_days": 10}


@pytest.mark.parametrize(
    "body",
    [
        {"price_cents": -1},
        {"price_cents": MAX_PRICE_CENTS + 1},
        {"price_cents": 9.9},
        {"price_cents": "990"},
        {"price_cents": True},
        {"currency": "USD"},
        {"currency": "brl"},
        {"currency": 986},
        {"due_days": 0},
        {"due_days": 61},
        {"due_days": "3"},
        {"price_cents": 990, "due_days": 90},
        {"limits": {"burst": 5}, "currency": "EUR"},
    ],
)
async def test_bad_prices_are_refused_and_write_nothing(
    api: httpx.AsyncClient, infra: Infra, body: dict[str, Any]
) -> None:
    answer = await api.patch(URL, json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "invalid_price"
    assert {error["field"] for error in answer.json()["errors"]} <= set(FREE)
    assert await infra.db[COLLECTION].find_one({"_id": "acme"}) is None
    assert _price(await api.get(URL, headers=ADMIN)) == FREE


async def test_a_currency_other_than_reais_says_why(api: httpx.AsyncClient) -> None:
    answer = await api.patch(URL, json={"currency": "USD"}, headers=ADMIN)
    assert "reais" in answer.json()["detail"] and "reais" in answer.json()["errors"][0]["msg"]


async def test_the_largest_charge_and_the_bounds_are_accepted(api: httpx.AsyncClient) -> None:
    body = {"price_cents": MAX_PRICE_CENTS, "due_days": 60}
    assert _price(await api.patch(URL, json=body, headers=ADMIN)) == {**FREE, **body}
    assert _price(await api.patch(URL, json={"due_days": 1}, headers=ADMIN))["due_days"] == 1


async def test_another_process_sees_a_new_price_within_its_refresh(infra: Infra) -> None:
    admin, replica = TenantSettings(infra.db), TenantSettings(infra.db, refresh_s=0.3)
    assert (await replica.price("acme")).free
    await admin.patch("acme", {}, {"price_cents": 990})
    for _ in range(40):
        if (await replica.price("acme")).price_cents == 990:
            break
        await asyncio.sleep(0.05)
    assert await replica.price("acme") == TenantPrice(price_cents=990)
    assert await replica.limits("acme") == replica.defaults


async def test_prices_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        TenantPrice().price_cents = 5  # type: ignore[misc]
