"""All MongoDB access for conversion jobs (collection ``conversion_jobs``, owned by upload)."""

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.clock import now
from shared.messaging.repository import OutboxRepository
from shared.pagination import NEWEST_FIRST, Cursor
from upload.errors import DuplicateJob

COLLECTION = "conversion_jobs"
_NO_OUTBOX = {"outbox": 0}


def reusable_filter(tenant: str, fingerprint: str) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "fingerprint": fingerprint,
        "status": "completed",
        "expires_at": {"$gt": now()},
    }


class JobRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._jobs = db[COLLECTION]
        self.outbox = OutboxRepository(self._jobs)

    async def ensure_indexes(self) -> None:
        await self._jobs.create_index(
            [("tenant", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        await self._jobs.create_index(
            [
                ("tenant", ASCENDING),
                ("status", ASCENDING),
                ("created_at", DESCENDING),
                ("_id", DESCENDING),
            ]
        )
        # the reuse lookup, on every upload: with expires_at in the index its cost does not
        # grow with the tenant's history (SecantusDB scans the collection without it)
        await self._jobs.create_index(
            [
                ("tenant", ASCENDING),
                ("fingerprint", ASCENDING),
                ("status", ASCENDING),
                ("expires_at", ASCENDING),
            ]
        )
        await self._jobs.create_index("result.key", sparse=True)
        await self._jobs.create_index("expires_at")
        # backstop only: the retention sweeper removes objects and records together well before
        await self._jobs.create_index("purge_at", expireAfterSeconds=0)
        await self.outbox.ensure_indexes()

    async def insert(self, job: dict[str, Any]) -> None:
        try:
            await self._jobs.insert_one(job)
        except DuplicateKeyError:
            raise DuplicateJob(job["_id"]) from None

    async def get(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        return await self._jobs.find_one({"_id": job_id, "tenant": tenant}, _NO_OUTBOX)

    async def by_id(self, job_id: str) -> dict[str, Any] | None:
        return await self._jobs.find_one({"_id": job_id}, _NO_OUTBOX)

    async def reusable(self, tenant: str, fingerprint: str) -> dict[str, Any] | None:
        """A completed, unexpired job of the tenant with this fingerprint: its result."""
        return await self._jobs.find_one(
            reusable_filter(tenant, fingerprint), {"result": 1, "source.format": 1}
        )

    async def page(
        self, tenant: str, status: str | None, limit: int, after: Cursor | None
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"tenant": tenant}
        if status:
            query["status"] = status
        if after:
            query.update(after.query())
        cursor = self._jobs.find(query, _NO_OUTBOX).sort(NEWEST_FIRST).limit(limit)
        return await cursor.to_list(limit)

    async def delete(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        return await self._jobs.find_one_and_delete({"_id": job_id, "tenant": tenant}, _NO_OUTBOX)

    async def transition(
        self, job_id: str, from_statuses: list[str], changes: dict[str, Any]
    ) -> bool:
        """Apply a status change only from the given states; whether it applied.

        ``update_one``, not ``find_one_and_update``: SecantusDB plans the latter as a scan of
        the collection (103 ms at 5,000 jobs against 3 ms).
        """
        result = await self._jobs.update_one(
            {"_id": job_id, "status": {"$in": from_statuses}},
            {"$set": {**changes, "updated_at": now()}},
        )
        return result.matched_count == 1

    async def exists(self, job_id: str) -> bool:
        return await self._jobs.find_one({"_id": job_id}, {"_id": 1}) is not None

    async def other_references(self, key: str, job_id: str) -> int:
        return await self._jobs.count_documents(
            {"result.key": key, "_id": {"$ne": job_id}}, limit=1
        )

    async def expired(self, limit: int = 200) -> list[dict[str, Any]]:
        cursor = self._jobs.find({"expires_at": {"$lt": now()}}, _NO_OUTBOX).limit(limit)
        return await cursor.to_list(limit)

    async def remove(self, job_id: str) -> None:
        await self._jobs.delete_one({"_id": job_id})
