"""All MongoDB access of the converter: one record per job, with its outcome and outbox."""

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase


class ConversionRecords:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], retention: timedelta) -> None:
        self.records = db["converter_records"]
        self.retention = retention

    async def ensure_indexes(self) -> None:
        await self.records.create_index("expires_at", expireAfterSeconds=0)

    async def get(self, job_id: str) -> dict[str, Any] | None:
        return await self.records.find_one({"_id": job_id})

    async def finish(
        self, job_id: str, tenant: str, outcome: dict[str, Any], entry: dict[str, Any]
    ) -> None:
        """The outcome and the event announcing it, in one write."""
        now = datetime.now(UTC)
        await self.records.update_one(
            {"_id": job_id},
            {
                "$set": {
                    "tenant": tenant,
                    "outcome": outcome,
                    "finished_at": now,
                    "expires_at": now + self.retention,
                    "outbox": [entry],
                }
            },
            upsert=True,
        )
