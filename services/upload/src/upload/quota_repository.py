"""The quotas' MongoDB state, shared by every API replica.

``upload_leases``: one document per API key, ``{_id: key_id, leases: [{id, until_ms}]}``, the
uploads of that key in progress. ``conversion_in_flight``: one document per tenant,
``{_id: tenant, jobs: [job_id, ...]}``, the tenant's conversions that may still be queued or
converting. Each slot is taken in one update by ``_id`` that adds the entry only while fewer
than the limit are there: the update changes the document exactly when the slot was granted,
so ``modified_count`` is the answer, with no read. (A filter on the array's size, or
``find_one_and_update``, makes SecantusDB scan the collection: 290 to 350 ms at 5,000
documents, against 10 ms for this update.) Times are the server's (``$$NOW``).
"""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from upload.model import ACTIVE
from upload.repository import COLLECTION as JOBS

LEASES = "upload_leases"
IN_FLIGHT = "conversion_in_flight"
_NOW_MS = {"$toLong": "$$NOW"}


def _added_below(array: Any, limit: int, entry: Any) -> list[dict[str, Any]]:
    """A pipeline setting ``entries`` to ``array`` plus ``entry`` if ``array`` holds fewer
    than ``limit`` items, or leaving the document as it is."""
    return [
        {
            "$set": {
                "entries": {
                    "$cond": [
                        {"$lt": [{"$size": array}, limit]},
                        {"$concatArrays": [array, [entry]]},
                        {"$ifNull": ["$entries", []]},
                    ]
                }
            }
        }
    ]


async def _granted(collection: Any, _id: str, pipeline: list[dict[str, Any]]) -> bool:
    result = await collection.update_one({"_id": _id}, pipeline, upsert=True)
    return bool(result.modified_count or result.upserted_id is not None)


class QuotaRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._leases = db[LEASES]
        self._in_flight = db[IN_FLIGHT]
        self._jobs = db[JOBS]

    async def take_lease(self, key_id: str, lease: str, limit: int, ttl_s: float) -> bool:
        """One upload slot of the key unless ``limit`` unexpired leases hold them all; the
        expired ones (a crashed process's) are dropped on the way."""
        live = {
            "$filter": {
                "input": {"$ifNull": ["$entries", []]},
                "cond": {"$gt": ["$$this.until_ms", _NOW_MS]},
            }
        }
        entry = {"id": lease, "until_ms": {"$add": [_NOW_MS, ttl_s * 1000]}}
        return await _granted(self._leases, key_id, _added_below(live, limit, entry))

    async def renew_lease(self, key_id: str, lease: str, ttl_s: float) -> None:
        until = {"$add": [_NOW_MS, ttl_s * 1000]}
        renewed = {
            "$cond": [
                {"$eq": ["$$this.id", lease]},
                {"id": lease, "until_ms": until},
                "$$this",
            ]
        }
        await self._leases.update_one(
            {"_id": key_id},
            [{"$set": {"entries": {"$map": {"input": "$entries", "in": renewed}}}}],
        )

    async def drop_lease(self, key_id: str, lease: str) -> None:
        await self._leases.update_one({"_id": key_id}, {"$pull": {"entries": {"id": lease}}})

    async def take_job(self, tenant: str, job_id: str, limit: int) -> bool:
        """One of the tenant's in-flight places for ``job_id`` unless ``limit`` are taken."""
        held = {"$ifNull": ["$entries", []]}
        return await _granted(self._in_flight, tenant, _added_below(held, limit, job_id))

    async def drop_jobs(self, tenant: str, job_ids: list[str]) -> None:
        await self._in_flight.update_one({"_id": tenant}, {"$pull": {"entries": {"$in": job_ids}}})

    async def finished_jobs(self, tenant: str) -> list[str]:
        """The jobs holding the tenant's places that are no longer queued or converting
        (finished, deleted, or never recorded): one read of the tenant's document and one of
        at most ``limit`` jobs by ``_id``."""
        doc = await self._in_flight.find_one({"_id": tenant})
        held = [job for job in (doc or {}).get("entries", []) if isinstance(job, str)]
        if not held:
            return []
        active = self._jobs.find({"_id": {"$in": held}, "status": {"$in": ACTIVE}}, {"_id": 1})
        still = {job["_id"] async for job in active}
        return [job for job in held if job not in still]
