"""API keys: issued once, stored hashed, resolved through a short cache (revocation lands in it)."""

import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog

from shared.auth.repository import ApiKeyRepository, hash_key
from shared.singleflight import SingleFlight

log = structlog.get_logger()


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
        self._reads: SingleFlight[str, Principal | None] = SingleFlight("api keys")

    async def authenticate(self, key: str) -> Principal | None:
        """The key's principal; concurrent requests with a key not in the cache share one read.

        A known key whose cache entry expired is still accepted while one read refreshes it
        (for up to three cache periods): a slow database delays a revocation by that much,
        rather than every request of the tenant.
        """
        digest = hash_key(key)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        if cached and cached[1] is not None and cached[0] + 2 * self.cache_seconds > now:
            self._reads.start(digest, partial(self._read, key, digest))
            return cached[1]
        return await self._reads.join(digest, partial(self._read, key, digest))

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
