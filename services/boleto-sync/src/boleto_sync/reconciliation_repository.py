"""``boleto_reconciliation``: one document holding when the next reconciliation runs (and
which replica runs it), how far the bank's callback history was read, the last run's report
and the bank's last summary."""

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.clock import now

KEY = "inter"


class ReconciliationRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._runs = db["boleto_reconciliation"]

    async def ensure(self) -> None:
        """The document, due at once if there is none yet."""
        with suppress(DuplicateKeyError):
            await self._runs.update_one(
                {"_id": KEY},
                {"$setOnInsert": {"next_run_at": now(), "lease_until": None}},
                upsert=True,
            )

    async def request_run(self) -> datetime:
        moment = now()
        await self._runs.update_one(
            {"_id": KEY}, {"$set": {"next_run_at": moment, "requested_at": moment}}, upsert=True
        )
        return moment

    async def claim(self, every: timedelta, lease: timedelta) -> dict[str, Any] | None:
        """The state, if a run is due and no replica holds one; the next is due ``every`` on."""
        moment = now()
        return await self._runs.find_one_and_update(
            {
                "_id": KEY,
                "next_run_at": {"$lte": moment},
                "$or": [{"lease_until": None}, {"lease_until": {"$lt": moment}}],
            },
            {
                "$set": {
                    "lease_until": moment + lease,
                    "next_run_at": moment + every,
                    "started_at": moment,
                }
            },
            return_document=ReturnDocument.AFTER,
        )

    async def finish(self, report: dict[str, Any], callbacks_until: datetime | None) -> None:
        changes: dict[str, Any] = {"lease_until": None, "last_run": report}
        if callbacks_until is not None:
            changes["callbacks_until"] = callbacks_until
        await self._runs.update_one({"_id": KEY}, {"$set": changes})

    async def save_summary(self, summary: dict[str, Any]) -> None:
        await self._runs.update_one({"_id": KEY}, {"$set": {"bank_summary": summary}})

    async def state(self) -> dict[str, Any] | None:
        return await self._runs.find_one({"_id": KEY})
