"""``notifier_streams``: the event streams open on every replica, one lease each, so a tenant's
cap on open streams holds across replicas.

A stream's lease is renewed for every stream of a replica in one write per period; a replica
that dies without closing its streams stops renewing them, and they stop counting once their
leases run out (``lease``, three periods). Opening a stream costs a bounded count and an
insert, closing it a delete; two opens racing for the last slot may both get it.
"""

import asyncio
import contextlib
import secrets
from datetime import timedelta
from typing import Any

import structlog
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.cancellation import raise_lost_cancel
from shared.clock import now

log = structlog.get_logger()


class StreamSlots:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], period_s: float) -> None:
        self._collection = db["notifier_streams"]
        self.period_s = period_s
        self.lease = timedelta(seconds=3 * period_s)
        self._held: set[str] = set()

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("tenant", ASCENDING), ("expires_at", ASCENDING)])
        await self._collection.create_index("expires_at", expireAfterSeconds=0)

    async def take(self, tenant: str, cap: int) -> str | None:
        """A slot for one more of the tenant's streams; None when ``cap`` are open."""
        live = {"tenant": tenant, "expires_at": {"$gt": now()}}
        if await self._collection.count_documents(live, limit=cap) >= cap:
            return None
        slot = f"st_{secrets.token_hex(12)}"
        await self._collection.insert_one(
            {"_id": slot, "tenant": tenant, "expires_at": now() + self.lease}
        )
        self._held.add(slot)
        return slot

    async def release(self, slot: str) -> None:
        self._held.discard(slot)
        await self._collection.delete_one({"_id": slot})

    def forget(self, slot: str) -> None:
        """Stop renewing a slot (its stream never ran): it stops counting when its lease ends."""
        self._held.discard(slot)

    async def renew(self) -> None:
        if self._held:
            await self._collection.update_many(
                {"_id": {"$in": list(self._held)}}, {"$set": {"expires_at": now() + self.lease}}
            )

    async def run(self) -> None:
        """Renew this replica's leases every period; a failed renewal is tried next period."""
        while True:
            raise_lost_cancel()
            await asyncio.sleep(self.period_s)
            try:
                await self.renew()
            except Exception as exc:
                log.warning("stream.slots.renew_failed", error=type(exc).__name__)

    async def close(self) -> None:
        """Give back every slot this replica holds (its streams end with it)."""
        held, self._held = list(self._held), set()
        if held:
            with contextlib.suppress(Exception):
                await self._collection.delete_many({"_id": {"$in": held}})
