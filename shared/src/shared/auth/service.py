"""API keys: issued once, stored hashed, resolved through a short cache (revocation lands in it)."""

import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog

from shared.auth.guard import FailedLookups
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
    """Keys resolved through a cache of the keys found (least recently used out past
    ``max_cached``); a key not found is never cached, so random keys cannot push valid ones
    out, and what they cost in reads is bounded per address by ``failed_lookups``."""

    def __init__(
        self,
        repository: ApiKeyRepository,
        cache_seconds: float = 5.0,
        max_cached: int = 10_000,
        failed_lookups: FailedLookups | None = None,
    ) -> None:
        self.repository = repository
        self.cache_seconds = cache_seconds
        self.max_cached = max_cached
        self.failed_lookups = failed_lookups or FailedLookups()
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._reads: SingleFlight[str, Principal | None] = SingleFlight("api keys")
        self._guarded: set[str] = set()  # digests whose read took a token and is in flight

    async def authenticate(self, key: str, address: str | None = None) -> Principal | None:
        """The key's principal; concurrent requests with a key not in the cache share one read.

        A known key whose cache entry expired is still accepted while one read refreshes it
        (for up to three cache periods): a slow database delays a revocation by that much,
        rather than every request of the tenant. A key not in the cache costs ``address`` a
        token of ``failed_lookups`` (given back when the key is found), and raises
        ``TooManyFailedLookups`` without a read once the address has none left.
        """
        digest = hash_key(key)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached and cached[0] > now:
            self._cache.move_to_end(digest)
            return cached[1]
        if cached and cached[0] + 2 * self.cache_seconds > now:
            self._reads.start(digest, partial(self._read, key, digest))
            return cached[1]
        read = partial(self._read, key, digest)
        if address is None or digest in self._guarded:  # joining a read costs no token
            return await self._reads.join(digest, read)
        await self.failed_lookups.take(address)
        self._guarded.add(digest)
        try:
            principal = await self._reads.join(digest, read)
        except Exception:  # the database failed, not the key
            self.failed_lookups.settle(address, spent=False)
            raise
        except BaseException:  # a cancelled caller keeps its token spent
            self.failed_lookups.settle(address, spent=True)
            raise
        finally:
            self._guarded.discard(digest)
        self.failed_lookups.settle(address, spent=principal is None)
        return principal

    async def _read(self, key: str, digest: str) -> Principal | None:
        started = time.monotonic()
        doc = await self.repository.find_active(key)
        if doc is None:
            self._cache.pop(digest, None)  # revoked: its stale entry must not be served again
            return None
        principal = Principal(doc["_id"], doc["tenant"], bool(doc.get("admin")))
        self._cache[digest] = (started + self.cache_seconds, principal)
        self._cache.move_to_end(digest)
        while len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)
        return principal

    async def create(
        self, tenant: str, admin: bool = False, by: str | None = None
    ) -> tuple[str, str]:
        """(key id, key): the key itself is returned here once and never stored. ``by`` (the
        creating key's id, or ``cli``) stays on the record."""
        return await self.repository.create(tenant, admin, by=by)

    async def revoke(self, key_id: str, by: str | None = None) -> None:
        if not await self.repository.revoke(key_id, by):
            raise UnknownKey(key_id)

    async def list(self, tenant: str | None = None) -> list[dict[str, Any]]:
        return await self.repository.list_keys(tenant)
