"""All MongoDB access of the notifier: subscriptions, deliveries, and the live stream's replay.

``webhook_subscriptions`` holds webhooks and each tenant's e-mail settings (channel
``email``), with the outbox of the events their changes imply; ``webhook_deliveries`` one
document per (event, subscription) with its schedule; ``notifier_replay`` the recent events
of every tenant for ``Last-Event-ID`` resume.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.messaging.repository import OutboxRepository

VISIBLE = {"outbox": 0, "secrets": 0}


def now() -> datetime:
    return datetime.now(UTC)


class SubscriptionRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db["webhook_subscriptions"]
        self.outbox = OutboxRepository(self.collection)

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("tenant", ASCENDING), ("channel", ASCENDING), ("created_at", DESCENDING)]
        )
        await self.collection.create_index([("tenant", ASCENDING), ("status", ASCENDING)])

    async def insert(self, doc: dict[str, Any]) -> None:
        await self.collection.insert_one(doc)

    async def get(
        self, tenant: str, sub_id: str, channel: str = "webhook"
    ) -> dict[str, Any] | None:
        return await self.collection.find_one(
            {"_id": sub_id, "tenant": tenant, "channel": channel}, {"outbox": 0}
        )

    async def by_id(self, sub_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": sub_id}, {"outbox": 0})

    async def of_tenant(self, tenant: str, channel: str = "webhook") -> list[dict[str, Any]]:
        cursor = self.collection.find({"tenant": tenant, "channel": channel}, {"outbox": 0})
        return await cursor.sort("created_at", DESCENDING).to_list(1000)

    async def enabled(self, tenant: str) -> list[dict[str, Any]]:
        """Every enabled subscription of the tenant, webhooks and e-mail alike."""
        cursor = self.collection.find(
            {"tenant": tenant, "status": "enabled"}, {"outbox": 0, "secrets": 0}
        )
        return await cursor.to_list(1000)

    async def delete(self, tenant: str, sub_id: str, channel: str = "webhook") -> bool:
        result = await self.collection.delete_one(
            {"_id": sub_id, "tenant": tenant, "channel": channel}
        )
        return result.deleted_count == 1

    async def replace_email(self, doc: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in doc.items() if k not in ("_id", "created_at")}
        found = await self.collection.find_one_and_update(
            {"_id": doc["_id"]},
            {"$set": fields, "$setOnInsert": {"created_at": doc["created_at"]}},
            upsert=True,
            projection={"outbox": 0},
            return_document=ReturnDocument.AFTER,
        )
        assert found is not None
        return found

    async def rotate(
        self, tenant: str, sub_id: str, secret: str, previous_until: datetime
    ) -> dict[str, Any] | None:
        """The new secret signs from now on; the current one also until ``previous_until``."""
        doc = await self.collection.find_one(
            {"_id": sub_id, "tenant": tenant, "channel": "webhook"}
        )
        if doc is None:
            return None
        kept = [{"secret": doc["secrets"][0]["secret"], "expires_at": previous_until}]
        return await self.collection.find_one_and_update(
            {"_id": sub_id, "tenant": tenant},
            {
                "$set": {
                    "secrets": [{"secret": secret, "expires_at": None}, *kept],
                    "updated_at": now(),
                }
            },
            projection={"outbox": 0},
            return_document=ReturnDocument.AFTER,
        )

    async def enable(self, tenant: str, sub_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one_and_update(
            {"_id": sub_id, "tenant": tenant, "channel": "webhook"},
            {
                "$set": {"status": "enabled", "disabled": None, "updated_at": now()},
                "$unset": {"streak": ""},
            },
            projection={"outbox": 0},
            return_document=ReturnDocument.AFTER,
        )

    async def record_failure(self, sub_id: str) -> dict[str, Any] | None:
        """Lengthen the endpoint's run of failures; returns the run."""
        doc = await self.collection.find_one_and_update(
            {"_id": sub_id},
            [
                {
                    "$set": {
                        "streak.count": {"$add": [{"$ifNull": ["$streak.count", 0]}, 1]},
                        "streak.since": {"$ifNull": ["$streak.since", now()]},
                    }
                }
            ],
            projection={"streak": 1, "status": 1},
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def record_success(self, sub_id: str) -> None:
        await self.collection.update_one(
            {"_id": sub_id, "streak": {"$exists": True}}, {"$unset": {"streak": ""}}
        )

    async def disable(self, sub_id: str, reason: dict[str, Any], entry: dict[str, Any]) -> bool:
        """Disable an enabled endpoint, with the event that tells its tenant, in one write."""
        result = await self.collection.update_one(
            {"_id": sub_id, "status": "enabled"},
            {
                "$set": {"status": "disabled", "disabled": reason, "updated_at": now()},
                "$push": {"outbox": entry},
            },
        )
        return result.modified_count == 1


class DeliveryRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db["webhook_deliveries"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
        await self.collection.create_index(
            [("subscription_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        await self.collection.create_index("expires_at", expireAfterSeconds=0)

    async def insert_new(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert the deliveries not recorded yet (a redelivered event adds none); those."""
        if not docs:
            return []
        try:
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            duplicates = {e["index"] for e in errors}
            return [doc for index, doc in enumerate(docs) if index not in duplicates]
        return docs

    async def due(self, limit: int) -> list[dict[str, Any]]:
        """Pending deliveries whose time has come and that no live worker holds."""
        query = {"status": "pending", "due_at": {"$lte": now()}}
        cursor = self.collection.find(query, {"subscription_id": 1}).sort("due_at", ASCENDING)
        return await cursor.limit(limit).to_list(limit)

    async def claim(self, delivery_id: str, lease: str, until: datetime) -> dict[str, Any] | None:
        """Lease a due delivery until ``until``; a crashed holder's lease just runs out."""
        # update_one, then find_one by _id alone: SecantusDB serves find_one_and_update by
        # scanning the collection (~90 ms at 5k deliveries), these two in ~1-4 ms
        leased = await self.collection.update_one(
            {"_id": delivery_id, "status": "pending", "due_at": {"$lte": now()}},
            {"$set": {"due_at": until, "lease": lease}},
        )
        if leased.modified_count != 1:
            return None
        doc = await self.collection.find_one({"_id": delivery_id})
        return doc if doc is not None and doc.get("lease") == lease else None

    async def release(self, ids: list[str], lease: str) -> None:
        await self.collection.update_many(
            {"_id": {"$in": ids}, "status": "pending", "lease": lease},
            {"$set": {"due_at": now(), "lease": None}},
        )

    async def renew(self, delivery_id: str, lease: str, until: datetime) -> bool:
        result = await self.collection.update_one(
            {"_id": delivery_id, "status": "pending", "lease": lease}, {"$set": {"due_at": until}}
        )
        return result.modified_count == 1

    async def settle(
        self,
        delivery_id: str,
        lease: str,
        changes: dict[str, Any],
        attempt: dict[str, Any] | None,
    ) -> bool:
        """Record an attempt's outcome, unless the lease ran out and another worker took over."""
        update: dict[str, Any] = {"$set": {**changes, "lease": None, "updated_at": now()}}
        if attempt is not None:
            update["$push"] = {"attempts": attempt}
            update["$inc"] = {"attempt_count": 1}
        result = await self.collection.update_one({"_id": delivery_id, "lease": lease}, update)
        return result.modified_count == 1

    async def cancel_pending(self, sub_id: str, reason: str, expires_at: datetime) -> None:
        await self.collection.update_many(
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

    async def page(
        self, sub_id: str, status: str | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"subscription_id": sub_id}
        if status:
            query["status"] = status
        if after:
            created, delivery_id = after
            query["$or"] = [
                {"created_at": {"$lt": created}},
                {"created_at": created, "_id": {"$lt": delivery_id}},
            ]
        cursor = self.collection.find(query, {"body": 0, "lease": 0})
        cursor = cursor.sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return await cursor.to_list(limit)

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": delivery_id})


class ReplayRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db["notifier_replay"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("tenant", ASCENDING), ("at", ASCENDING), ("_id", ASCENDING)]
        )
        await self.collection.create_index("expires_at", expireAfterSeconds=0)

    async def record(self, doc: dict[str, Any], window: timedelta) -> None:
        fields = {**doc, "expires_at": doc["at"] + window}
        event_id = fields.pop("_id")
        await self.collection.update_one({"_id": event_id}, {"$setOnInsert": fields}, upsert=True)

    async def after(self, tenant: str, last_id: str | None, limit: int) -> list[dict[str, Any]]:
        """The tenant's events after ``last_id`` (all in the window when it is unknown)."""
        query: dict[str, Any] = {"tenant": tenant, "expires_at": {"$gt": now()}}
        last = (
            await self.collection.find_one({"_id": last_id, "tenant": tenant}) if last_id else None
        )
        if last is not None:
            query["$or"] = [
                {"at": {"$gt": last["at"]}},
                {"at": last["at"], "_id": {"$gt": last["_id"]}},
            ]
        cursor = self.collection.find(query).sort([("at", ASCENDING), ("_id", ASCENDING)])
        return await cursor.limit(limit).to_list(limit)
