"""The rate limiter's MongoDB state: one document per endpoint group in the collection the
owner names (boleto-sync's is ``inter_rate_limits``).

Slot times are epoch milliseconds taken from the server's clock (``$$NOW``): numbers compare
reliably on every MongoDB server, and replicas with skewed clocks still agree.
"""

from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

_NOW_MS = {"$toLong": "$$NOW"}


class RateLimitRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], collection: str) -> None:
        self._groups = db[collection]

    async def reserve(self, group: str, interval_ms: float) -> float:
        """Take the group's next free slot, ``interval_ms`` after the previous one and never
        before now, in one atomic update; returns the seconds from now until that slot."""
        doc = await self._groups.find_one_and_update(
            {"_id": group},
            [
                {
                    "$set": {
                        "next_ms": {
                            "$add": [
                                {"$max": [{"$ifNull": ["$next_ms", _NOW_MS]}, _NOW_MS]},
                                interval_ms,
                            ]
                        },
                        "now_ms": _NOW_MS,
                        "sent": {"$add": [{"$ifNull": ["$sent", 0]}, 1]},
                    }
                }
            ],
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:  # a concurrent first upsert: the update applied, read the slot back
            doc = await self._groups.find_one({"_id": group})
            assert doc is not None
        return float(doc["next_ms"] - doc["now_ms"] - interval_ms) / 1000

    async def release(self, group: str) -> None:
        """A reserved slot that will not be used is not counted as sent."""
        await self._groups.update_one({"_id": group}, {"$inc": {"sent": -1}})

    async def record_wait(self, group: str, wait_s: float) -> None:
        await self._groups.update_one({"_id": group}, {"$inc": {"waits": 1, "wait_s": wait_s}})

    async def back_off(self, group: str, backoff_s: float) -> None:
        """No slot of the group before ``backoff_s`` from now, for every replica."""
        until = {"$add": [_NOW_MS, backoff_s * 1000]}
        await self._groups.update_one(
            {"_id": group},
            [
                {
                    "$set": {
                        "next_ms": {"$max": [{"$ifNull": ["$next_ms", _NOW_MS]}, until]},
                        "backoff_until_ms": until,
                        "throttled": {"$add": [{"$ifNull": ["$throttled", 0]}, 1]},
                    }
                }
            ],
            upsert=True,
        )

    async def next_slot_ms(self, group: str) -> float | None:
        doc = await self._groups.find_one({"_id": group}, {"next_ms": 1})
        return float(doc["next_ms"]) if doc and doc.get("next_ms") else None

    async def counters(self) -> dict[str, dict[str, Any]]:
        """Each group's document by group name (groups never used have none)."""
        return {doc["_id"]: doc async for doc in self._groups.find({})}
