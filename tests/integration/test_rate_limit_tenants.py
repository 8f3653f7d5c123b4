"""Tenant settings on a real SecantusDB: merge-patch, every process seeing a change within
its refresh period, and the last known limits served through an outage."""

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError
from pymongo import AsyncMongoClient

from shared.bootstrap import Infra
from shared.tenant_repository import COLLECTION, TenantRepository
from shared.tenants import TenantLimits, TenantSettings, UnknownLimit


async def test_a_patch_changes_the_fields_given_and_keeps_the_others(infra: Infra) -> None:
    tenants = TenantSettings(infra.db)
    await tenants.update("acme", {"requests_per_s": 5, "webhooks": 3})
    limits = await tenants.update("acme", {"burst": 9})
    assert (limits.requests_per_s, limits.burst, limits.webhooks) == (5, 9, 3)
    assert limits.sse_connections == TenantLimits().sse_connections
    restored = await tenants.update("acme", {"webhooks": None})  # back to the default
    assert restored.webhooks == TenantLimits().webhooks and restored.burst == 9
    stored = await infra.db[COLLECTION].find_one({"_id": "acme"})
    assert stored is not None and stored["limits"] == {"requests_per_s": 5.0, "burst": 9}
    assert stored["updated_at"] is not None
    assert await tenants.read("acme") == restored


async def test_bad_changes_write_nothing(infra: Infra) -> None:
    tenants = TenantSettings(infra.db)
    with pytest.raises(UnknownLimit):
        await tenants.update("acme", {"burst": 5, "colour": "red"})
    with pytest.raises(ValidationError):
        await tenants.update("acme", {"burst": 5, "bank_share": 3})
    assert await infra.db[COLLECTION].find_one({"_id": "acme"}) is None


async def test_siblings_of_limits_are_left_alone(infra: Infra) -> None:
    await infra.db[COLLECTION].insert_one({"_id": "acme", "pricing": {"plan": "gold"}})
    await TenantSettings(infra.db).update("acme", {"burst": 7})
    stored = await infra.db[COLLECTION].find_one({"_id": "acme"})
    assert stored is not None and stored["pricing"] == {"plan": "gold"}


async def test_another_process_sees_a_change_within_its_refresh_period(infra: Infra) -> None:
    admin, replica = TenantSettings(infra.db), TenantSettings(infra.db, refresh_s=0.3)
    assert (await replica.limits("acme")).burst == TenantLimits().burst
    await admin.update("acme", {"burst": 3})
    for _ in range(40):
        if (await replica.limits("acme")).burst == 3:
            break
        await asyncio.sleep(0.05)
    assert (await replica.limits("acme")).burst == 3


async def test_an_outage_serves_the_last_known_limits(infra: Infra) -> None:
    await TenantSettings(infra.db).update("acme", {"burst": 4})
    tenants = TenantSettings(infra.db, refresh_s=0.0)
    assert (await tenants.limits("acme")).burst == 4
    dead: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:9", serverSelectionTimeoutMS=200
    )
    try:
        tenants._repository = TenantRepository(dead["nowhere"])  # the database goes away
        for _ in range(3):
            assert (await tenants.limits("acme")).burst == 4
            await asyncio.sleep(0.3)
        cold = TenantSettings(dead["nowhere"])  # never loaded: the defaults, no error
        assert await cold.limits("acme") == cold.defaults
    finally:
        await dead.close()
