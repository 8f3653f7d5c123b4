"""API keys against the real database: hashed storage, revocation, dev keys, the command line."""

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from shared.auth.repository import ApiKeyRepository, hash_key
from shared.auth.service import ApiKeys, UnknownKey
from shared.bootstrap import Infra
from shared.settings import InfraSettings


async def test_keys_are_stored_hashed_and_resolve_to_their_tenant(infra: Infra) -> None:
    keys = ApiKeyRepository(infra.db)
    await keys.ensure_indexes()
    key_id, key = await keys.create("acme", admin=False)
    stored = await infra.db["api_keys"].find_one({"_id": key_id})
    assert stored is not None and key not in json.dumps(stored, default=str)
    assert stored["hash"] == hash_key(key)
    principal = await ApiKeys(keys, cache_seconds=0).authenticate(key)
    assert principal is not None and (principal.tenant, principal.admin) == ("acme", False)
    assert await ApiKeys(keys).authenticate(key + "x") is None


async def test_revocation_lands_once_the_cache_expires(infra: Infra) -> None:
    """The first request after the cache period still passes while its lookup refreshes the
    entry (a slow database must not hold up every request); the ones after it are refused."""
    keys = ApiKeyRepository(infra.db)
    await keys.ensure_indexes()
    key_id, key = await keys.create("acme")
    auth = ApiKeys(keys, cache_seconds=0.3)
    assert await auth.authenticate(key) is not None
    await auth.revoke(key_id)
    with pytest.raises(UnknownKey):
        await auth.revoke(key_id)
    assert await auth.authenticate(key) is not None  # within the cache period
    await asyncio.sleep(0.35)
    assert await auth.authenticate(key) is not None  # expired: served while refreshed
    for _ in range(20):
        if await auth.authenticate(key) is None:
            break
        await asyncio.sleep(0.05)
    assert await auth.authenticate(key) is None


async def test_concurrent_requests_with_one_key_share_one_lookup(infra: Infra) -> None:
    class Counting(ApiKeyRepository):
        lookups = 0

        async def find_active(self, key: str) -> dict[str, Any] | None:
            self.lookups += 1
            return await super().find_active(key)

    keys = Counting(infra.db)
    _, key = await keys.create("acme")
    auth = ApiKeys(keys, cache_seconds=30)
    principals = await asyncio.gather(*(auth.authenticate(key) for _ in range(40)))
    assert keys.lookups == 1 and all(p is not None for p in principals)


async def test_configured_dev_keys_are_honoured_idempotently(infra_settings: InfraSettings) -> None:
    settings = infra_settings.model_copy(
        update={"dev_api_key": "dev-k", "dev_admin_key": "admin-k"}
    )
    infra = await Infra.open(settings)
    try:
        for _ in range(2):  # a second replica starting changes nothing
            auth = await infra.api_keys()
        dev, admin = await auth.authenticate("dev-k"), await auth.authenticate("admin-k")
        assert dev is not None and (dev.tenant, dev.admin) == ("dev", False)
        assert admin is not None and admin.admin
        assert await infra.db["api_keys"].count_documents({}) == 2
    finally:
        await infra.mongo.drop_database(settings.mongodb_db)
        await infra.close()


def test_command_line_creates_lists_and_revokes(infra_settings: InfraSettings) -> None:
    env = {
        **os.environ,
        "MONGODB_URL": infra_settings.mongodb_url,
        "MONGODB_DB": infra_settings.mongodb_db,
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.auth", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = json.loads(cli("create", "--tenant", "acme", "--admin").stdout)
    assert (
        created["tenant"] == "acme"
        and created["admin"] is True
        and created["key"].startswith("sk_")
    )
    listed = cli("list", "--tenant", "acme").stdout
    assert created["id"] in listed and created["key"] not in listed
    assert cli("revoke", created["id"]).returncode == 0
    again = cli("revoke", created["id"])
    assert again.returncode == 1 and "no active API key" in again.stderr
