"""MongoDB access of the operator views: the jobs summed up by status and tenant, and the one
write a replay makes (a job that failed because its request ran out of attempts is queued
again)."""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.clock import now, to_millis
from shared.messaging.notices import Change, Recorded
from shared.queues import GAVE_UP
from upload.repository import COLLECTION

PENDING = ["queued", "converting"]
MAX_TENANTS = 100


class JobSummaryRepository:
    """Both summaries are one aggregation each over the jobs still retained (at most
    ``RETENTION_HOURS`` of uploads): SecantusDB reads every one of them, about 0.2 s per
    5,000 jobs, which an operator's view can afford and a client's request could not."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._jobs = db[COLLECTION]

    async def by_status(self) -> list[dict[str, Any]]:
        """Per status: ``_id`` (the status), ``count`` and ``oldest`` (its oldest creation)."""
        pipeline: list[dict[str, Any]] = [
            {"$group": {"_id": "$status", "count": {"$sum": 1}, "oldest": {"$min": "$created_at"}}}
        ]
        return await (await self._jobs.aggregate(pipeline)).to_list(None)

    async def oldest_pending(self) -> list[dict[str, Any]]:
        """Per tenant with pending jobs, oldest first: its oldest pending job and how many it
        has pending."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"status": {"$in": PENDING}}},
            {"$sort": {"created_at": 1}},
            {
                "$group": {
                    "_id": "$tenant",
                    "job_id": {"$first": "$_id"},
                    "status": {"$first": "$status"},
                    "created_at": {"$first": "$created_at"},
                    "pending": {"$sum": 1},
                }
            },
            {"$sort": {"created_at": 1}},
            {"$limit": MAX_TENANTS},
        ]
        return await (await self._jobs.aggregate(pipeline)).to_list(None)

    async def requeue_gave_up(self, job_id: str) -> Recorded:
        """Set the job back to ``queued`` if it failed only because its conversion request
        ran out of attempts; the change made (for the replicas' caches), or nothing."""
        job = await self._jobs.find_one({"_id": job_id}, {"status": 1, "error": 1})
        error = (job or {}).get("error") or {}
        if job is None or job["status"] != "failed" or not _gave_up(error):
            return {}
        change = Change({"status": ["failed"]}, {"status": "queued", "error": None})
        fields = {**change.fields, "updated_at": to_millis(now())}
        result = await self._jobs.update_one(
            {"_id": job_id, "status": "failed", "error.message": error["message"]},
            {"$set": fields},
        )
        return {job_id: Change(change.condition, fields)} if result.modified_count else {}


def _gave_up(error: dict[str, Any]) -> bool:
    return error.get("code") == "internal" and str(error.get("message", "")).startswith(GAVE_UP)
