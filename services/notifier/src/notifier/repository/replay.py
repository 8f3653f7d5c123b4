"""``notifier_replay``: each tenant's recent events, for a live stream that resumes."""

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.batching import Batcher
from shared.clock import now, to_millis
from shared.mongo import insert_new

_TICK = timedelta(milliseconds=1)


class ReplayRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._collection = db["notifier_replay"]
        self._writes: Batcher[dict[str, Any], set[int]] = Batcher(self._insert_new)
        self._last = datetime.min.replace(tzinfo=UTC)

    def stamp(self) -> datetime:
        """Where an event received now sits in the replay: after every event this process
        stamped before, to the millisecond MongoDB keeps. Taken when the event arrives, so
        events that arrive within one millisecond replay in the order they came, not in the
        order of their random ids."""
        self._last = max(to_millis(now()), self._last + _TICK)
        return self._last

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(
            [("tenant", ASCENDING), ("at", ASCENDING), ("_id", ASCENDING)]
        )
        await self._collection.create_index("expires_at", expireAfterSeconds=0)

    async def record(self, doc: dict[str, Any], window: timedelta) -> None:
        """Kept for the window, once per event id; returns after the write that holds it."""
        await self._writes.add({**doc, "expires_at": doc["at"] + window})

    async def _insert_new(self, docs: list[dict[str, Any]]) -> set[int]:
        # an event recorded before (a redelivery) stays as it was
        return await insert_new(self._collection, docs)

    async def after(self, tenant: str, last_id: str | None, limit: int) -> list[dict[str, Any]]:
        """The tenant's events after ``last_id`` (all in the window when it is unknown)."""
        query: dict[str, Any] = {"tenant": tenant, "expires_at": {"$gt": now()}}
        last = (
            await self._collection.find_one({"_id": last_id, "tenant": tenant}) if last_id else None
        )
        if last is not None:
            query["$or"] = [
                {"at": {"$gt": last["at"]}},
                {"at": last["at"], "_id": {"$gt": last["_id"]}},
            ]
        cursor = self._collection.find(query).sort([("at", ASCENDING), ("_id", ASCENDING)])
        return await cursor.limit(limit).to_list(limit)
