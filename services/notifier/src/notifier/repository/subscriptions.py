"""``webhook_subscriptions``: webhooks and e-mail settings, and the outbox of their events.

A webhook's signing secrets rest sealed (``shared.crypto``), bound to their webhook; they are
opened only where deliveries are signed (``by_id``) and where a rotation returns them. Entries
stored in plain text by earlier versions are read as they are and sealed at start-up.
"""

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from shared.batching import Batcher
from shared.clock import now
from shared.crypto import Sealer
from shared.messaging.repository import OutboxRepository

WITHOUT_OUTBOX = {"outbox": 0}
WITHOUT_SECRETS = {"outbox": 0, "secrets": 0}  # what the API's reads need
PER_TENANT_MAX = 1000  # subscriptions read for one tenant at the most


class SubscriptionRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], sealer: Sealer) -> None:
        self._collection = db["webhook_subscriptions"]
        self._sealer = sealer
        self.outbox = OutboxRepository(self._collection)
        self._enabled: Batcher[str, dict[str, list[dict[str, Any]]]] = Batcher(self._enabled_of)

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(
            [("tenant", ASCENDING), ("channel", ASCENDING), ("created_at", DESCENDING)]
        )
        await self._collection.create_index([("tenant", ASCENDING), ("status", ASCENDING)])
        await self.outbox.ensure_indexes()
        await self.seal_plaintext_secrets()

    async def seal_plaintext_secrets(self) -> int:
        """Seal the secrets that earlier versions stored in plain text; returns how many
        webhooks changed. A rotation meanwhile wins (the write expects the secrets it read)."""
        sealed = 0
        async for doc in self._collection.find({"secrets.secret": {"$exists": True}}):
            result = await self._collection.update_one(
                {"_id": doc["_id"], "secrets": doc["secrets"]},
                {"$set": {"secrets": [self._sealed(doc, s) for s in doc["secrets"]]}},
            )
            sealed += result.modified_count
        return sealed

    async def add(self, doc: dict[str, Any]) -> None:
        """Stores ``doc`` with its secrets sealed; ``doc`` itself keeps them readable."""
        secrets = [self._sealed(doc, s) for s in doc.get("secrets", [])]
        await self._collection.insert_one({**doc, "secrets": secrets} if secrets else doc)

    async def get(
        self, tenant: str, sub_id: str, channel: str = "webhook"
    ) -> dict[str, Any] | None:
        return await self._collection.find_one(
            {"_id": sub_id, "tenant": tenant, "channel": channel}, WITHOUT_SECRETS
        )

    async def by_id(self, sub_id: str) -> dict[str, Any] | None:
        """The subscription with its secrets opened: what a delivery is signed with."""
        return self._opened(await self._collection.find_one({"_id": sub_id}, WITHOUT_OUTBOX))

    async def of_tenant(self, tenant: str, channel: str = "webhook") -> list[dict[str, Any]]:
        cursor = self._collection.find({"tenant": tenant, "channel": channel}, WITHOUT_SECRETS)
        return await cursor.sort("created_at", DESCENDING).to_list(PER_TENANT_MAX)

    async def enabled(self, tenant: str) -> list[dict[str, Any]]:
        """Every enabled subscription of the tenant, webhooks and e-mail alike: one query for
        the tenants of every event fanned out meanwhile (``Batcher``)."""
        return (await self._enabled.add(tenant)).get(tenant, [])

    async def _enabled_of(self, tenants: list[str]) -> dict[str, list[dict[str, Any]]]:
        unique = sorted(set(tenants))
        cursor = self._collection.find(
            {"tenant": {"$in": unique}, "status": "enabled"}, {"outbox": 0, "secrets": 0}
        )
        found: dict[str, list[dict[str, Any]]] = {}
        for doc in await cursor.to_list(PER_TENANT_MAX * len(unique)):
            found.setdefault(doc["tenant"], []).append(doc)
        return found

    async def count(self, tenant: str, limit: int, channel: str = "webhook") -> int:
        """The tenant's subscriptions, counted up to ``limit`` at the most (bounded read)."""
        query = {"tenant": tenant, "channel": channel}
        return await self._collection.count_documents(query, limit=limit)

    async def confirm_recipient(self, sub_id: str, address: str) -> bool:
        """Mark a recipient confirmed, if the e-mail setting still lists it."""
        result = await self._collection.update_one(
            {"_id": sub_id, "channel": "email", "recipients": address},
            {"$addToSet": {"confirmed": address}, "$set": {"updated_at": now()}},
        )
        return result.matched_count == 1

    async def delete(self, tenant: str, sub_id: str, channel: str = "webhook") -> bool:
        result = await self._collection.delete_one(
            {"_id": sub_id, "tenant": tenant, "channel": channel}
        )
        return result.deleted_count == 1

    async def replace_email(self, doc: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in doc.items() if k not in ("_id", "created_at")}
        found = await self._collection.find_one_and_update(
            {"_id": doc["_id"]},
            {"$set": fields, "$setOnInsert": {"created_at": doc["created_at"]}},
            upsert=True,
            projection=WITHOUT_OUTBOX,
            return_document=ReturnDocument.AFTER,
        )
        assert found is not None
        return found

    async def rotate(
        self, tenant: str, sub_id: str, secret: str, previous_until: datetime
    ) -> dict[str, Any] | None:
        """The new secret signs from now on; the current one also until ``previous_until``."""
        doc = await self._collection.find_one(
            {"_id": sub_id, "tenant": tenant, "channel": "webhook"}
        )
        if doc is None:
            return None
        kept = {**self._sealed(doc, doc["secrets"][0]), "expires_at": previous_until}
        current = self._sealed(doc, {"secret": secret, "expires_at": None})
        return self._opened(
            await self._collection.find_one_and_update(
                {"_id": sub_id, "tenant": tenant},
                {"$set": {"secrets": [current, kept], "updated_at": now()}},
                projection=WITHOUT_OUTBOX,
                return_document=ReturnDocument.AFTER,
            )
        )

    async def enable(self, tenant: str, sub_id: str) -> dict[str, Any] | None:
        return await self._collection.find_one_and_update(
            {"_id": sub_id, "tenant": tenant, "channel": "webhook"},
            {
                "$set": {"status": "enabled", "disabled": None, "updated_at": now()},
                "$unset": {"streak": ""},
            },
            projection=WITHOUT_SECRETS,
            return_document=ReturnDocument.AFTER,
        )

    async def record_failure(self, sub_id: str) -> dict[str, Any] | None:
        """Lengthen the endpoint's run of failures; returns the run."""
        return await self._collection.find_one_and_update(
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

    async def record_success(self, sub_id: str) -> None:
        await self._collection.update_one(
            {"_id": sub_id, "streak": {"$exists": True}}, {"$unset": {"streak": ""}}
        )

    async def disable(self, sub_id: str, reason: dict[str, Any], entry: dict[str, Any]) -> bool:
        """Disable an enabled endpoint, with the event that tells its tenant, in one write."""
        result = await self._collection.update_one(
            {"_id": sub_id, "status": "enabled"},
            {
                "$set": {"status": "disabled", "disabled": reason, "updated_at": now()},
                "$push": {"outbox": entry},
            },
        )
        return result.modified_count == 1

    def _sealed(self, doc: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
        if "sealed" in entry:
            return entry
        blob = self._sealer.seal(entry["secret"].encode(), _context(doc))
        return {"sealed": blob, "expires_at": entry["expires_at"]}

    def _opened(self, doc: dict[str, Any] | None) -> dict[str, Any] | None:
        if doc is None or "secrets" not in doc:
            return doc
        opened = [self._open(doc, entry) for entry in doc["secrets"]]
        return {**doc, "secrets": opened}

    def _open(self, doc: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
        if "sealed" not in entry:  # stored in plain text by an earlier version
            return entry
        secret = self._sealer.open(entry["sealed"], _context(doc)).decode()
        return {"secret": secret, "expires_at": entry["expires_at"]}


def _context(doc: dict[str, Any]) -> str:
    """What binds a sealed secret to its webhook: copied to another, it does not open."""
    return f"webhook-secret:{doc['tenant']}/{doc['_id']}"
