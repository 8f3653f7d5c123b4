"""``webhook_deliveries``: one document per (event, subscription), its schedule and its lease.

The writes of the delivery path (recording an event's deliveries, renewing a lease before an
attempt, recording an outcome) are batched across concurrent callers (``Batcher``): under a
burst one command carries many deliveries, and each caller still learns what became of its
own.
"""

import secrets
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.batching import Batcher
from shared.clock import now
from shared.mongo import insert_new
from shared.pagination import NEWEST_FIRST, Cursor, Page

Doc = dict[str, Any]


class DeliveryRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._collection = db["webhook_deliveries"]
        # what each batched write returns: the python ids of the docs recorded before; the
        # deliveries renewed; the outcomes recorded (each settle marks its own outcome id)
        self._inserts: Batcher[list[Doc], set[int]] = Batcher(self._insert_new)
        self._renewals: Batcher[tuple[str, str, datetime], set[str]] = Batcher(self._renew)
        self._outcomes: Batcher[tuple[str, str, UpdateOne], set[str]] = Batcher(self._record)

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
        await self._collection.create_index(
            [("subscription_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        await self._collection.create_index("expires_at", expireAfterSeconds=0)

    async def add_new(self, docs: list[Doc]) -> list[Doc]:
        """Record the deliveries not recorded yet (a redelivered event adds none); those."""
        if not docs:
            return []
        recorded_before = await self._inserts.add(docs)
        return [doc for doc in docs if id(doc) not in recorded_before]

    async def _insert_new(self, batches: list[list[Doc]]) -> set[int]:
        docs = [doc for batch in batches for doc in batch]
        return {id(docs[index]) for index in await insert_new(self._collection, docs)}

    async def due(self, limit: int) -> list[dict[str, Any]]:
        """Pending deliveries whose time has come and that no live worker holds."""
        query = {"status": "pending", "due_at": {"$lte": now()}}
        cursor = self._collection.find(query, {"subscription_id": 1}).sort("due_at", ASCENDING)
        return await cursor.limit(limit).to_list(limit)

    async def claim(self, delivery_id: str, lease: str, until: datetime) -> dict[str, Any] | None:
        """Lease a due delivery until ``until``; a crashed holder's lease just runs out."""
        # update_one, then find_one by _id alone: SecantusDB serves find_one_and_update by
        # scanning the collection (~90 ms at 5k deliveries), these two in ~1-4 ms
        leased = await self._collection.update_one(
            {"_id": delivery_id, "status": "pending", "due_at": {"$lte": now()}},
            {"$set": {"due_at": until, "lease": lease}},
        )
        if leased.modified_count != 1:
            return None
        doc = await self._collection.find_one({"_id": delivery_id})
        return doc if doc is not None and doc.get("lease") == lease else None

    async def release(self, ids: list[str], lease: str) -> None:
        await self._collection.update_many(
            {"_id": {"$in": ids}, "status": "pending", "lease": lease},
            {"$set": {"due_at": now(), "lease": None}},
        )

    async def renew(self, delivery_id: str, lease: str, until: datetime) -> bool:
        """Extend the lease to ``until`` (or the batch's latest deadline), unless the
        delivery was settled or someone else holds it."""
        return delivery_id in await self._renewals.add((delivery_id, lease, until))

    async def _renew(self, items: list[tuple[str, str, datetime]]) -> set[str]:
        by_lease: dict[str, list[str]] = {}
        for delivery_id, lease, _ in items:
            by_lease.setdefault(lease, []).append(delivery_id)
        until = max(deadline for _, _, deadline in items)
        renewed: set[str] = set()
        for lease, ids in by_lease.items():
            query = {"_id": {"$in": ids}, "status": "pending", "lease": lease}
            result = await self._collection.update_many(query, {"$set": {"due_at": until}})
            if result.modified_count == len(ids):
                renewed.update(ids)
            elif result.modified_count:  # which ones: those leased until this write's deadline
                cursor = self._collection.find({**query, "due_at": until}, {"_id": 1})
                renewed.update([doc["_id"] async for doc in cursor])
        return renewed

    async def settle(
        self,
        delivery_id: str,
        lease: str,
        changes: dict[str, Any],
        attempt: dict[str, Any] | None,
    ) -> bool:
        """Record an attempt's outcome, unless the lease ran out and another worker took over."""
        outcome_id = secrets.token_hex(8)
        fields = {**changes, "lease": None, "outcome_id": outcome_id, "updated_at": now()}
        update: dict[str, Any] = {"$set": fields}
        if attempt is not None:
            update["$push"] = {"attempts": attempt}
            update["$inc"] = {"attempt_count": 1}
        write = UpdateOne({"_id": delivery_id, "lease": lease}, update)
        return outcome_id in await self._outcomes.add((delivery_id, outcome_id, write))

    async def _record(self, outcomes: list[tuple[str, str, UpdateOne]]) -> set[str]:
        result = await self._collection.bulk_write([w for _, _, w in outcomes], ordered=False)
        if result.modified_count == len(outcomes):
            return {outcome_id for _, outcome_id, _ in outcomes}
        # a lease ran out under some of them: those whose outcome id the documents now carry
        ids = [delivery_id for delivery_id, _, _ in outcomes]
        cursor = self._collection.find({"_id": {"$in": ids}}, {"outcome_id": 1})
        return {doc["outcome_id"] async for doc in cursor if doc.get("outcome_id")}

    async def cancel_pending(self, sub_id: str, reason: str, expires_at: datetime) -> None:
        await self._collection.update_many(
            {"subscription_id": sub_id, "status": "pending"},
            {
                "$set": {
                    "status": "failed",
                    "error": reason,
                    "lease": None,
                    "expires_at": expires_at,
                }
            },
        )

    async def page(self, sub_id: str, status: str | None, limit: int, after: Cursor | None) -> Page:
        """A subscription's deliveries, newest first, after the cursor's position."""
        query: dict[str, Any] = {"subscription_id": sub_id}
        if status:
            query["status"] = status
        if after:
            query.update(after.query())
        cursor = self._collection.find(query, {"body": 0, "lease": 0}).sort(NEWEST_FIRST)
        return Page.of(await cursor.limit(limit + 1).to_list(limit + 1), limit)

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        return await self._collection.find_one({"_id": delivery_id})
