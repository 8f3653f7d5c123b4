"""The outbox entries inside a service's own documents: the only MongoDB code of messaging."""

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection


class OutboxRepository:
    """Reads and clears the ``outbox`` array of the documents of one collection.

    The owning service's repository creates it over its own collection; nobody else sees the
    collection.
    """

    def __init__(self, collection: AsyncCollection[Any]) -> None:
        self._collection = collection

    @property
    def name(self) -> str:
        return self._collection.name

    async def ensure_indexes(self) -> None:
        await self._collection.create_index("outbox.queued_at", sparse=True)

    async def pending(
        self, queued_before: datetime, limit: int
    ) -> AsyncIterator[tuple[Any, list[dict[str, Any]]]]:
        """(document id, its entries) of documents holding an entry queued before the cutoff."""
        cursor = self._collection.find(
            {"outbox.queued_at": {"$lt": queued_before}}, {"outbox": 1}
        ).limit(limit)
        async for doc in cursor:
            yield doc["_id"], doc["outbox"]

    async def backlog(self) -> int:
        """How many documents hold at least one entry (published or not yet cleared)."""
        return await self._collection.count_documents({"outbox.0": {"$exists": True}})

    async def remove(self, doc_id: Any, entry_ids: list[str]) -> None:
        await self._collection.update_one(
            {"_id": doc_id}, {"$pull": {"outbox": {"id": {"$in": entry_ids}}}}
        )

    async def remove_many(self, published: dict[Any, list[str]]) -> None:
        """Clear the entries of many documents in one update (entry ids are unique)."""
        entry_ids = [entry_id for ids in published.values() for entry_id in ids]
        await self._collection.update_many(
            {"_id": {"$in": list(published)}}, {"$pull": {"outbox": {"id": {"$in": entry_ids}}}}
        )
