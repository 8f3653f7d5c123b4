"""One OAuth2 token for every replica, kept in MongoDB and refreshed before it expires.

The bank allows only a few token calls a minute, so replicas share the token: one replica
takes a short lease and fetches a new token; the others wait for it to appear.
"""

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection

log = structlog.get_logger()

Fetch = Callable[[], Awaitable[tuple[str, float]]]  # -> (access token, lifetime in seconds)
_OWNER = f"{socket.gethostname()}:{os.getpid()}"


class SharedToken:
    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        key: str,
        fetch: Fetch,
        refresh_margin: timedelta = timedelta(minutes=5),
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self.collection, self.key, self.fetch = collection, key, fetch
        self.refresh_margin, self.lease = refresh_margin, lease
        self._token: str | None = None
        self._valid_until = datetime.min.replace(tzinfo=UTC)
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if self._token and datetime.now(UTC) < self._valid_until:
            return self._token
        async with self._lock:
            while not (self._token and datetime.now(UTC) < self._valid_until):
                await self._load_or_refresh()
            return self._token

    async def invalidate(self, token: str) -> None:
        """The bank refused ``token``: drop it (unless another replica already replaced it)."""
        self._token = None
        await self.collection.update_one(
            {"_id": self.key, "token": token}, {"$set": {"expires_at": datetime.now(UTC)}}
        )

    async def _load_or_refresh(self) -> None:
        now = datetime.now(UTC)
        doc = await self.collection.find_one({"_id": self.key})
        if doc and doc.get("token") and doc["expires_at"] - self.refresh_margin > now:
            self._token, self._valid_until = doc["token"], doc["expires_at"] - self.refresh_margin
            return
        if await self._take_lease(now):
            await self._refresh()
        else:
            await asyncio.sleep(0.2)  # another replica is fetching it

    async def _take_lease(self, now: datetime) -> bool:
        try:
            result = await self.collection.update_one(
                {"_id": self.key, "$or": [{"lease_until": {"$lt": now}}, {"lease_until": None}]},
                {"$set": {"lease_until": now + self.lease, "lease_owner": _OWNER}},
                upsert=True,
            )
        except Exception as exc:  # a duplicate upsert: another replica holds the lease
            log.debug("inter.token.lease_taken", error=type(exc).__name__)
            return False
        return result.modified_count == 1 or result.upserted_id is not None

    async def _refresh(self) -> None:
        try:
            token, lifetime = await self.fetch()
        except BaseException:
            await self.collection.update_one(
                {"_id": self.key, "lease_owner": _OWNER}, {"$set": {"lease_until": None}}
            )
            raise
        expires = datetime.now(UTC) + timedelta(seconds=lifetime)
        await self.collection.update_one(
            {"_id": self.key},
            {"$set": {"token": token, "expires_at": expires, "lease_until": None}},
        )
        self._token, self._valid_until = token, expires - self.refresh_margin
        log.info("inter.token.refreshed", expires_in_s=lifetime)
