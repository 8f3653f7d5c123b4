"""API keys: issued once, stored hashed, resolved through a short cache (revocation lands in it)."""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from shared.auth.repository import ApiKeyRepository, hash_key


@dataclass(frozen=True)
class Principal:
    key_id: str
    tenant: str
    admin: bool


class UnknownKey(LookupError):
    """No active API key has this id."""


class ApiKeys:
    def __init__(self, repository: ApiKeyRepository, cache_seconds: float = 5.0) -> None:
        self.repository = repository
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._reads: dict[str, asyncio.Future[Principal | None]] = {}

    async def authenticate(self, key: str) -> Principal | None:
        """The key's principal; concurrent requests with a key not in the cache share one read."""
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        reading = self._reads.get(digest)
        if reading is None:
            reading = asyncio.ensure_future(self._read(key, digest))
            self._reads[digest] = reading
            reading.add_done_callback(lambda _: self._reads.pop(digest, None))
        return await asyncio.shield(reading)

    async def _read(self, key: str, digest: str) -> Principal | None:
        started = time.monotonic()
        doc = await self.repository.find_active(key)
        principal = Principal(doc["_id"], doc["tenant"], bool(doc.get("admin"))) if doc else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (started + self.cache_seconds, principal)
        return principal

    async def create(self, tenant: str, admin: bool = False) -> tuple[str, str]:
        """(key id, key): the key itself is returned here once and never stored."""
        return await self.repository.create(tenant, admin)

    async def revoke(self, key_id: str) -> None:
        if not await self.repository.revoke(key_id):
            raise UnknownKey(key_id)

    async def list(self, tenant: str | None = None) -> list[dict[str, Any]]:
        return await self.repository.list_keys(tenant)
