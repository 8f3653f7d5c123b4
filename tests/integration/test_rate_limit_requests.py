"""Each API key's request rate on a real SecantusDB: the shared bucket's leases, the API's 429
with its headers, what it costs the database, and an outage letting requests through."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from shared.bootstrap import Infra
from shared.ratelimit.lease_repository import KeyBuckets, Lease
from shared.ratelimit.requests import RequestRateLimits
from shared.settings import InfraSettings
from shared.tenants import TenantSettings
from tests.support.upload_api import served_upload_api

ADMIN_KEY = f"sk_admin_{uuid.uuid4().hex}"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


class CountingBuckets(KeyBuckets):
    leases = 0

    async def lease(self, key_id: str, wanted: int, interval_ms: float, burst: int) -> Lease:
        self.leases += 1
        return await super().lease(key_id, wanted, interval_ms, burst)


@pytest.fixture
async def api(infra_settings: InfraSettings, infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    async with served_upload_api(infra_settings, dev_admin_key=ADMIN_KEY) as client:
        yield client


async def _key(api: httpx.AsyncClient, tenant: str, **limits: Any) -> dict[str, str]:
    created = await api.post("/v1/admin/api-keys", json={"tenant": tenant}, headers=ADMIN)
    assert created.status_code == 201, created.text
    if limits:
        patched = await api.patch(
            f"/v1/admin/tenants/{tenant}", json={"limits": limits}, headers=ADMIN
        )
        assert patched.status_code == 200, patched.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


async def test_a_lease_takes_what_the_shared_bucket_holds(infra: Infra) -> None:
    buckets = KeyBuckets(infra.db)
    first = await buckets.lease("key_a", wanted=3, interval_ms=1000, burst=5)
    second = await buckets.lease("key_a", wanted=3, interval_ms=1000, burst=5)
    third = await buckets.lease("key_a", wanted=3, interval_ms=1000, burst=5)
    assert (first.granted, first.room) == (3, 2)
    assert (second.granted, second.room) == (2, 0)
    assert third.granted == 0 and 2.5 < third.free_in_s <= 3.0  # three slots, one a second
    assert (await buckets.lease("key_b", 3, 1000, 5)).granted == 3  # keys do not share


async def test_a_key_over_its_rate_gets_429_while_another_key_does_not(
    api: httpx.AsyncClient,
) -> None:
    hammering = await _key(api, "hammering", requests_per_s=1, burst=3)
    calm = await _key(api, "calm")
    answers = [await api.get("/v1/conversions/missing", headers=hammering) for _ in range(8)]
    assert [a.status_code for a in answers] == [404] * 3 + [429] * 5
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 3
    assert refused.headers["ratelimit-policy"] == '"default";q=3;w=3'
    assert refused.headers["ratelimit"].startswith('"default";r=0;t=')
    others = [await api.get("/v1/conversions/missing", headers=calm) for _ in range(8)]
    assert {a.status_code for a in others} == {404}
    assert others[-1].headers["ratelimit-policy"] == '"default";q=100;w=2'
    probes = [await api.get(path) for path in ("/healthz", "/readyz", "/metrics") * 5]
    assert all("ratelimit" not in p.headers for p in probes)
    assert {p.status_code for p in probes} == {200}


async def test_replicas_share_one_bucket(infra: Infra) -> None:
    tenants = TenantSettings(infra.db)
    await tenants.update("acme", {"requests_per_s": 2, "burst": 10})
    replicas = [RequestRateLimits(KeyBuckets(infra.db), tenants) for _ in range(2)]
    verdicts = await asyncio.gather(*(r.check("key_1", "acme") for r in replicas * 15))
    # never more than the burst between them; a batch lost to the replicas' racing first
    # upserts may leave one or two slots unspent
    assert 8 <= sum(v.allowed for v in verdicts) <= 10


async def test_a_key_costs_a_lease_per_batch_not_per_request(infra: Infra) -> None:
    """At 1000/s a batch is 250 slots: 400 requests take two leases. A key far over its limit
    is refused from memory until a batch is free again."""
    tenants = TenantSettings(infra.db)
    await tenants.update("busy", {"requests_per_s": 1000, "burst": 2000})
    await tenants.update("flooding", {"requests_per_s": 10, "burst": 10})
    buckets = CountingBuckets(infra.db)
    limits = RequestRateLimits(buckets, tenants)
    busy = [await limits.check("key_busy", "busy") for _ in range(400)]
    assert all(v.allowed for v in busy) and buckets.leases == 2
    buckets.leases = 0
    started = time.monotonic()
    flood = [await limits.check("key_flood", "flooding") for _ in range(2000)]
    refilled = 10 * (time.monotonic() - started)  # slots freed while the loop ran
    assert 10 <= sum(v.allowed for v in flood) <= 10 + refilled + 1
    assert buckets.leases <= 5 + refilled


async def test_an_unreachable_database_lets_requests_through_at_once(infra: Infra) -> None:
    dead: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:9", serverSelectionTimeoutMS=300
    )
    try:
        limits = RequestRateLimits(KeyBuckets(dead["nowhere"]), TenantSettings(infra.db))
        started = time.monotonic()
        verdicts = [await limits.check("key_x", "acme") for _ in range(50)]
        assert all(v.allowed for v in verdicts)
        assert time.monotonic() - started < 1.5  # one short wait, then no asking for a while
    finally:
        await dead.close()


async def test_a_concurrent_flood_passes_the_rate_and_burst_only(infra: Infra) -> None:
    """Sixty requests at once every 0.1 s (600/s) for 3 s, against 50/s with a burst of 100,
    on two replicas: what passes is the burst and 3 s at the rate, and a batch per replica."""
    tenants = TenantSettings(infra.db)
    await tenants.update("flooding", {"requests_per_s": 50, "burst": 100})
    replicas = [RequestRateLimits(KeyBuckets(infra.db), tenants) for _ in range(2)]
    allowed = 0
    started = time.monotonic()
    while time.monotonic() - started < 3:
        verdicts = await asyncio.gather(*(r.check("key_f", "flooding") for r in replicas * 30))
        allowed += sum(v.allowed for v in verdicts)
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - started
    assert allowed <= 100 + 50 * elapsed + 2 * 13, allowed
