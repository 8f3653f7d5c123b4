"""The aggregations behind a job summary, for any collection of jobs with ``status``,
``tenant`` and ``created_at`` (upload's conversion jobs, boleto-sync's jobs)."""

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

MAX_TENANTS = 100


class JobSummaryRepository:
    """Each summary is one aggregation over the jobs the collection retains: SecantusDB reads
    every one of them (about 0.2 s per 5,000 jobs), which an operator's view can afford and a
    client's request could not."""

    def __init__(self, jobs: AsyncCollection[dict[str, Any]], pending: list[str]) -> None:
        self._jobs = jobs
        self.pending = pending

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
            {"$match": {"status": {"$in": self.pending}}},
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
