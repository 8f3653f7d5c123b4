"""Each API key's request bucket, shared by every replica: one document per key in
``api_rate_limits`` holding its GCRA theoretical arrival time (``tat_ms``, server time) and
how many leases it gave (``leases``: the database writes the key cost).

A process does not take one slot per request: it leases up to ``wanted`` slots at once in one
atomic update and spends them from memory (``shared.ratelimit.requests``).
"""

import math
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

COLLECTION = "api_rate_limits"
_NOW_MS = {"$toLong": "$$NOW"}


@dataclass(frozen=True)
class Lease:
    granted: int  # slots this process may spend
    room: int  # slots still free in the shared bucket after this lease
    free_in_s: float  # until ``wanted`` more slots are free
    full_in_s: float  # until the bucket is full again (nothing spent meanwhile)


class KeyBuckets:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], collection: str = COLLECTION) -> None:
        self._buckets = db[collection]

    async def lease(self, key_id: str, wanted: int, interval_ms: float, burst: int) -> Lease:
        """Up to ``wanted`` slots, as many as the bucket (``burst`` slots, one freed every
        ``interval_ms``) holds now; none when it is empty. One atomic update."""
        tolerance_ms = burst * interval_ms
        try:
            doc = await self._take(key_id, wanted, interval_ms, tolerance_ms)
        except DuplicateKeyError:
            doc = None
        if doc is None:
            # concurrent first upserts: the server may apply ours without returning it. Take
            # again: at worst the first batch is wasted (fewer requests pass, never more)
            doc = await self._take(key_id, wanted, interval_ms, tolerance_ms)
        if doc is None:
            raise LookupError(f"no rate-limit bucket for {key_id} after its upsert")
        now_ms, tat_ms = float(doc["now_ms"]), float(doc["tat_ms"])
        room = math.floor((now_ms + tolerance_ms - tat_ms) / interval_ms)
        free_at = tat_ms + wanted * interval_ms - tolerance_ms
        return Lease(
            granted=int(doc["granted"]),
            room=max(room, 0),
            free_in_s=max(free_at - now_ms, 0.0) / 1000,
            full_in_s=max(tat_ms - now_ms, 0.0) / 1000,
        )

    async def _take(
        self, key_id: str, wanted: int, interval_ms: float, tolerance_ms: float
    ) -> dict[str, Any] | None:
        free = {"$subtract": [{"$add": ["$now_ms", tolerance_ms]}, "$base_ms"]}
        return await self._buckets.find_one_and_update(
            {"_id": key_id},
            [
                {
                    "$set": {
                        "now_ms": _NOW_MS,
                        "base_ms": {"$max": [{"$ifNull": ["$tat_ms", _NOW_MS]}, _NOW_MS]},
                        "leases": {"$add": [{"$ifNull": ["$leases", 0]}, 1]},
                    }
                },
                {
                    "$set": {
                        "granted": {
                            "$max": [
                                0,
                                {"$min": [wanted, {"$floor": {"$divide": [free, interval_ms]}}]},
                            ]
                        }
                    }
                },
                {
                    "$set": {
                        "tat_ms": {"$add": ["$base_ms", {"$multiply": ["$granted", interval_ms]}]}
                    }
                },
            ],
            {"now_ms": 1, "tat_ms": 1, "granted": 1},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
