"""All MongoDB access for conversion jobs (collection ``conversion_jobs``, owned by upload)."""

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from shared.messaging.repository import OutboxRepository

ACTIVE = ["queued", "converting"]


def now() -> datetime:
    return datetime.now(UTC)


class JobRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.jobs = db["conversion_jobs"]
        self.outbox = OutboxRepository(self.jobs)

    async def ensure_indexes(self) -> None:
        await self.jobs.create_index(
            [("tenant", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        await self.jobs.create_index(
            [
                ("tenant", ASCENDING),
                ("status", ASCENDING),
                ("created_at", DESCENDING),
                ("_id", DESCENDING),
            ]
        )
        await self.jobs.create_index(
            [("tenant", ASCENDING), ("fingerprint", ASCENDING), ("status", ASCENDING)]
        )
        await self.jobs.create_index("result.key", sparse=True)
        await self.jobs.create_index("expires_at")
        # backstop only: the retention sweeper removes objects and records together well before
        await self.jobs.create_index("purge_at", expireAfterSeconds=0)

    async def insert(self, job: dict[str, Any]) -> None:
        await self.jobs.insert_one(job)

    async def get(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        return await self.jobs.find_one({"_id": job_id, "tenant": tenant}, {"outbox": 0})

    async def by_id(self, job_id: str) -> dict[str, Any] | None:
        return await self.jobs.find_one({"_id": job_id}, {"outbox": 0})

    async def find_reusable(self, tenant: str, fingerprint: str) -> dict[str, Any] | None:
        return await self.jobs.find_one(
            {
                "tenant": tenant,
                "fingerprint": fingerprint,
                "status": "completed",
                "expires_at": {"$gt": now()},
            },
            {"result": 1, "source.format": 1},
        )

    async def page(
        self, tenant: str, status: str | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"tenant": tenant}
        if status:
            query["status"] = status
        if after:
            created, job_id = after
            query["$or"] = [
                {"created_at": {"$lt": created}},
                {"created_at": created, "_id": {"$lt": job_id}},
            ]
        cursor = (
            self.jobs.find(query, {"outbox": 0})
            .sort([("created_at", -1), ("_id", -1)])
            .limit(limit)
        )
        return await cursor.to_list(limit)

    async def delete(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        return await self.jobs.find_one_and_delete({"_id": job_id, "tenant": tenant}, {"outbox": 0})

    async def transition(
        self, job_id: str, from_statuses: list[str], changes: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Apply a status change only from the given states; None when it did not apply."""
        return await self.jobs.find_one_and_update(
            {"_id": job_id, "status": {"$in": from_statuses}},
            {"$set": {**changes, "updated_at": now()}},
            projection={"_id": 1},
            return_document=ReturnDocument.AFTER,
        )

    async def exists(self, job_id: str) -> bool:
        return await self.jobs.find_one({"_id": job_id}, {"_id": 1}) is not None

    async def other_references(self, key: str, job_id: str) -> int:
        return await self.jobs.count_documents({"result.key": key, "_id": {"$ne": job_id}}, limit=1)

    async def expired(self, limit: int = 200) -> list[dict[str, Any]]:
        return (
            await self.jobs.find({"expires_at": {"$lt": now()}}, {"outbox": 0})
            .limit(limit)
            .to_list(limit)
        )

    async def remove(self, job_id: str) -> None:
        await self.jobs.delete_one({"_id": job_id})
