"""Each tenant's fair share of the bank's quota, on real SecantusDB against the Inter
simulator: a tenant flooding the bank does not hold another tenant's charge behind its flood.

The issue group allows 10 calls a second here. Tenant A asks for 20 charges at once, then
tenant B for one. Without a share (A's ``bank_share`` 1), A's 20 reservations fill the next
two seconds of the bank's quota and B's charge waits behind them; with ``bank_share`` 0.5, A
reserves the bank's slots no faster than half the rate, and B's charge leaves within a slot
or two.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from functools import partial

import httpx
import pytest

from boleto_sync.fair_share import FairShareLimiter, on_behalf_of
from boleto_sync.inter.client import InterClient, fetch_token
from boleto_sync.inter.token import SharedToken
from boleto_sync.inter.token_repository import TokenRepository
from shared.bootstrap import Infra
from shared.ratelimit.gcra import Limit
from shared.ratelimit.repository import RateLimitRepository
from shared.tenants import TenantSettings
from tests.support.inter import CLIENT_ID, CLIENT_SECRET, SCOPES, charge_body, simulator_client

pytestmark = pytest.mark.timeout(120)

PER_S = 10
FLOOD = 20
LIMITS = {group: Limit(PER_S, 1.0) for group in ("issue", "get", "pdf", "list")} | {
    "token": Limit(5, 1.0),
    "webhook": Limit(5, 1.0),
}


@pytest.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    async with simulator_client(processing_delay_seconds=0.1) as client:
        yield client


def _bank(infra: Infra, sim: httpx.AsyncClient, tenants: TenantSettings) -> InterClient:
    group = f"fair-{uuid.uuid4().hex[:6]}"  # a limiter state of its own
    limiter = FairShareLimiter(RateLimitRepository(infra.db, group), LIMITS, tenants)
    fetch = partial(fetch_token, sim, limiter, CLIENT_ID, CLIENT_SECRET, SCOPES)
    return InterClient(sim, limiter, SharedToken(TokenRepository(infra.db, group), fetch))


async def _charge(bank: InterClient, tenant: str, number: str) -> float:
    """Seconds until the bank answered ``tenant``'s charge."""
    on_behalf_of(tenant)  # as the worker does for the event it handles (this task only)
    started = time.monotonic()
    await bank.issue(charge_body(seuNumero=number))
    return time.monotonic() - started


async def _flood_then_one(bank: InterClient, flooder: str, other: str) -> tuple[float, float]:
    """Seconds the other tenant's charge took, and the flood as a whole."""
    started = time.monotonic()
    tag = uuid.uuid4().hex[:6]
    flood = [asyncio.create_task(_charge(bank, flooder, f"A{tag}{n}")) for n in range(FLOOD)]
    await asyncio.sleep(0.3)  # the flood has taken its reservations
    single = await _charge(bank, other, f"B{tag}")
    await asyncio.gather(*flood)
    return single, time.monotonic() - started


async def test_a_tenant_flooding_the_bank_does_not_hold_back_another_tenants_charge(
    infra: Infra, sim: httpx.AsyncClient
) -> None:
    tenants = TenantSettings(infra.db)
    await tenants.update("hog", {"bank_share": 1})
    await tenants.update("fair-a", {"bank_share": 0.5})
    for tenant in ("b1", "b2"):
        await tenants.update(tenant, {"bank_share": 0.5})
    await _bank(infra, sim, tenants).issue(charge_body(seuNumero=f"warm{uuid.uuid4().hex[:6]}"))

    starved, _ = await _flood_then_one(_bank(infra, sim, tenants), "hog", "b1")
    fair, flood_s = await _flood_then_one(_bank(infra, sim, tenants), "fair-a", "b2")

    # unshared, the other charge waits behind most of the flood's two seconds
    assert starved > 1.0, starved
    # shared, it waits at most a couple of the bank's slots (0.1 s each) beyond the call
    assert fair < 0.6, fair
    # and the flooding tenant got no more than its half of the bank's rate
    assert flood_s >= (FLOOD - 1) / (PER_S * 0.5) * 0.9, flood_s
