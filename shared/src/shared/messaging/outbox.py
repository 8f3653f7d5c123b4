"""Transactional outbox on single documents.

A state change and the event it implies are written in one document update (``outbox``
array); the relay publishes with confirms and then pulls the entries. A crash in between
leaves the entries for the sweeper, which publishes them again: consumers dedupe on the
CloudEvents id, so the effect happens exactly once.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection

from shared.messaging.broker import Broker
from shared.messaging.envelope import Envelope

log = structlog.get_logger()


def outbox_entry(envelope: Envelope) -> dict[str, Any]:
    return {**envelope.to_document(), "queued_at": datetime.now(UTC)}


class OutboxRelay:
    def __init__(self, collection: AsyncCollection[Any], broker: Broker) -> None:
        self.collection = collection
        self.broker = broker

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("outbox.queued_at", sparse=True)

    async def flush(self, doc_id: Any, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        for entry in entries:
            await self.broker.publish(Envelope.from_document(entry))
        ids = [entry["id"] for entry in entries]
        await self.collection.update_one(
            {"_id": doc_id}, {"$pull": {"outbox": {"id": {"$in": ids}}}}
        )

    async def sweep(self, older_than: timedelta = timedelta(seconds=5), limit: int = 500) -> int:
        cutoff = datetime.now(UTC) - older_than
        cursor = self.collection.find({"outbox.queued_at": {"$lt": cutoff}}, {"outbox": 1}).limit(
            limit
        )
        published = 0
        async for doc in cursor:
            await self.flush(doc["_id"], doc["outbox"])
            published += len(doc["outbox"])
        if published:
            log.info("outbox.swept", collection=self.collection.name, published=published)
        return published
