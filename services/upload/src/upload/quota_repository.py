"""The upload quotas' MongoDB state, shared by every API replica: ``conversion_quotas``, one
document per tenant, ``{_id: tenant, uploads: [{id, key, job, until_ms}], jobs: [job_id]}``.

``uploads`` are the leases of the tenant's uploads in progress (per API key), ``jobs`` the
places of its conversions that may still be queued or converting. An upload takes both in one
update by ``_id`` that adds them only while the key has fewer leases than its limit and the
tenant fewer places than its own: the update changes the document exactly when both were
granted, so ``modified_count`` is the answer, with no read. (A filter on an array's size, or
``find_one_and_update``, makes SecantusDB scan the collection: 290 to 350 ms at 5,000
documents, against 10 ms for this update.) Times are the server's (``$$NOW``).
"""

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from upload.model import ACTIVE
from upload.repository import COLLECTION as JOBS

QUOTAS = "conversion_quotas"
_NOW_MS = {"$toLong": "$$NOW"}
_LIVE = {
    "$filter": {
        "input": {"$ifNull": ["$uploads", []]},
        "cond": {"$gt": ["$$this.until_ms", _NOW_MS]},
    }
}
_HELD = {"$ifNull": ["$jobs", []]}


@dataclass(frozen=True)
class Lease:
    """One upload in progress: its lease, its key and the job it will record."""

    id: str
    key: str
    job: str


@dataclass(frozen=True)
class Held:
    """What a tenant's document holds: the key's live uploads, every place and the jobs of the
    uploads still in progress (their places are not finished, only not written yet)."""

    key_uploads: int
    places: list[str]
    uploading_jobs: set[str]


class QuotaRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._quotas = db[QUOTAS]
        self._jobs = db[JOBS]

    async def take(
        self, tenant: str, lease: Lease, key_limit: int, jobs_limit: int, ttl_s: float
    ) -> bool:
        """A lease for the key and a place for the job, both or neither; expired leases (a
        crashed process's) are dropped on the way."""
        mine = {"$filter": {"input": _LIVE, "cond": {"$eq": ["$$this.key", lease.key]}}}
        granted = {
            "$and": [
                {"$lt": [{"$size": mine}, key_limit]},
                {"$lt": [{"$size": _HELD}, jobs_limit]},
            ]
        }
        until = {"$add": [_NOW_MS, ttl_s * 1000]}
        entry = {"id": lease.id, "key": lease.key, "job": lease.job, "until_ms": until}
        pipeline = [
            {
                "$set": {
                    "uploads": {
                        "$cond": [
                            granted,
                            {"$concatArrays": [_LIVE, [entry]]},
                            {"$ifNull": ["$uploads", []]},
                        ]
                    },
                    "jobs": {"$cond": [granted, {"$concatArrays": [_HELD, [lease.job]]}, _HELD]},
                }
            }
        ]
        try:
            result = await self._quotas.update_one({"_id": tenant}, pipeline, upsert=True)
        except DuplicateKeyError:  # a racing first upload of the tenant inserted it: apply to it
            result = await self._quotas.update_one({"_id": tenant}, pipeline, upsert=True)
        return bool(result.modified_count or result.upserted_id is not None)

    async def renew(self, tenant: str, lease: Lease, ttl_s: float) -> None:
        until = {"$add": [_NOW_MS, ttl_s * 1000]}
        renewed = {
            "$cond": [
                {"$eq": ["$$this.id", lease.id]},
                {"$mergeObjects": ["$$this", {"until_ms": until}]},
                "$$this",
            ]
        }
        await self._quotas.update_one(
            {"_id": tenant}, [{"$set": {"uploads": {"$map": {"input": "$uploads", "in": renewed}}}}]
        )

    async def release(self, tenant: str, lease: Lease, keep_place: bool) -> None:
        """The lease goes; the job's place stays only if the job will convert."""
        pulled: dict[str, Any] = {"uploads": {"id": lease.id}}
        if not keep_place:
            pulled["jobs"] = lease.job
        await self._quotas.update_one({"_id": tenant}, {"$pull": pulled})

    async def held(self, tenant: str, key: str, now_ms: float) -> Held:
        doc = await self._quotas.find_one({"_id": tenant}) or {}
        live = [u for u in doc.get("uploads", []) if u.get("until_ms", 0) > now_ms]
        return Held(
            sum(1 for u in live if u.get("key") == key),
            [job for job in doc.get("jobs", []) if isinstance(job, str)],
            {u.get("job") for u in live},
        )

    async def active(self, job_ids: list[str]) -> set[str]:
        """Which of the jobs are queued or converting: one read of them by ``_id``."""
        found = self._jobs.find({"_id": {"$in": job_ids}, "status": {"$in": ACTIVE}}, {"_id": 1})
        return {job["_id"] async for job in found}

    async def drop_places(self, tenant: str, job_ids: list[str]) -> None:
        await self._quotas.update_one({"_id": tenant}, {"$pull": {"jobs": {"$in": job_ids}}})
