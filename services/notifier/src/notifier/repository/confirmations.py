"""``email_confirmations``: the confirmation asked of each new e-mail recipient, by the digest
of its single-use token (the token itself is only in the mail), until it expires."""

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.clock import now


class ConfirmationRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._collection = db["email_confirmations"]

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(
            [("subscription_id", ASCENDING), ("address", ASCENDING), ("created_at", ASCENDING)]
        )
        await self._collection.create_index("expires_at", expireAfterSeconds=0)

    async def asked_since(self, sub_id: str, addresses: list[str], since: datetime) -> set[str]:
        """The addresses among ``addresses`` asked to confirm since ``since``."""
        query = {
            "subscription_id": sub_id,
            "address": {"$in": addresses},
            "created_at": {"$gt": since},
        }
        docs = self._collection.find(query, {"address": 1})
        return {doc["address"] async for doc in docs}

    async def add(self, docs: list[dict[str, Any]]) -> None:
        if docs:
            await self._collection.insert_many(docs)

    async def take(self, digest: str) -> dict[str, Any] | None:
        """The unexpired confirmation with this digest, removed: it works once."""
        doc = await self._collection.find_one({"_id": digest, "expires_at": {"$gt": now()}})
        if doc is None:
            return None
        taken = await self._collection.delete_one({"_id": digest})
        return doc if taken.deleted_count == 1 else None
