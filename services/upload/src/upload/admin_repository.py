"""MongoDB access of the operator views of conversions: the jobs summed up, and the one write
a replay makes (a job that failed because its request ran out of attempts is queued again)."""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.admin.summary_repository import JobSummaryRepository
from shared.clock import now, to_millis
from shared.messaging.notices import Change, Recorded
from shared.queues import GAVE_UP
from upload.repository import COLLECTION

PENDING = ["queued", "converting"]


class JobAdminRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._jobs = db[COLLECTION]
        self.summary = JobSummaryRepository(self._jobs, PENDING)

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
