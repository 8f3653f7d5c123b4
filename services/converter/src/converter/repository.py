"""All MongoDB access of the converter: one record per job, with its outcome and outbox."""

from datetime import timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.clock import now
from shared.messaging.repository import OutboxRepository
from shared.queues import GAVE_UP


class ConversionRecords:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], retention: timedelta) -> None:
        self._records = db["converter_records"]
        self._in_jvm = db["converter_in_jvm"]
        self.retention = retention
        self.outbox = OutboxRepository(self._records)

    async def ensure_indexes(self) -> None:
        await self._records.create_index("expires_at", expireAfterSeconds=0)
        await self._in_jvm.create_index("expires_at", expireAfterSeconds=0)
        await self.outbox.ensure_indexes()

    async def lost_attempts(self, job_id: str) -> int:
        """How often the job went into a JVM and never came out: its converter process died
        (evicted, OOM-killed, its disk filled) while converting it."""
        entry = await self._in_jvm.find_one({"_id": job_id})
        return int((entry or {}).get("open", 0))

    async def entered_jvm(self, job_id: str) -> None:
        await self._in_jvm.update_one(
            {"_id": job_id},
            {"$inc": {"open": 1}, "$set": {"expires_at": now() + self.retention}},
            upsert=True,
        )

    async def left_jvm(self, job_id: str) -> None:
        await self._in_jvm.update_one({"_id": job_id}, {"$inc": {"open": -1}})

    async def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's record, if it was converted before (read for redeliveries, and when a
        second copy of a request finds it on its insert)."""
        return await self._records.find_one({"_id": job_id})

    async def forget_gave_up(self, job_id: str) -> None:
        """Drop the job's record if it holds only the failure of a request that ran out of
        attempts, so that the request, replayed, converts afresh; any other outcome stays."""
        record = await self.get(job_id)
        outcome = (record or {}).get("outcome") or {}
        message = str(outcome.get("message", ""))
        if outcome.get("code") == "internal" and message.startswith(GAVE_UP):
            await self._records.delete_one({"_id": job_id, "outcome.message": message})

    async def finish(
        self, job_id: str, tenant: str, outcome: dict[str, Any], entry: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The outcome and the event announcing it, in one write, unless the job has a record
        already; the outbox entries to publish: this one, or what is left of the first's."""
        finished = now()
        record = {
            "_id": job_id,
            "tenant": tenant,
            "outcome": outcome,
            "finished_at": finished,
            "expires_at": finished + self.retention,
            "outbox": [entry],
        }
        try:
            await self._records.insert_one(record)
        except DuplicateKeyError:
            first = await self.get(job_id)
            return first.get("outbox", []) if first else []
        return [entry]
