"""``boleto_bank_checks``: the charges a bank callback asked us to look at again.

A callback only says "look at this charge". One document per boleto holds that request
until a worker has fetched the charge from the bank: a burst of callbacks for one charge is
one document and one fetch. A callback during a fetch marks the document due again (the
fetch may have read the bank before the change), so one more fetch follows, never more.
"""

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.clock import now


class BankCheckRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._checks = db["boleto_bank_checks"]

    async def request(self, boleto_id: str, reason: str, due: datetime | None = None) -> None:
        # a DuplicateKeyError: a concurrent first request made it due already
        with suppress(DuplicateKeyError):
            await self._checks.update_one(
                {"_id": boleto_id},
                {
                    "$set": {"due": due or now(), "reason": reason},
                    "$setOnInsert": {"lease_until": None},
                },
                upsert=True,
            )

    async def claim(self, lease: timedelta) -> str | None:
        """The boleto of a due check nobody holds (or whose holder died), leased to us."""
        moment = now()
        doc = await self._checks.find_one_and_update(
            {
                "$or": [
                    {"due": {"$lte": moment}, "lease_until": None},
                    {"lease_until": {"$lt": moment}},
                ]
            },
            {"$set": {"due": None, "lease_until": moment + lease}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else str(doc["_id"])

    async def done(self, boleto_id: str, asked_at: datetime) -> None:
        """The check, which asked the bank at ``asked_at``, ended: gone, unless a callback
        came after that and made it due again."""
        covered = {"$or": [{"due": None}, {"due": {"$lte": asked_at}}]}
        gone = await self._checks.delete_one({"_id": boleto_id, **covered})
        if not gone.deleted_count:
            await self._checks.update_one({"_id": boleto_id}, {"$set": {"lease_until": None}})

    async def retry_at(self, boleto_id: str, due: datetime) -> None:
        """The check failed: due again at ``due`` (or sooner, if a callback came meanwhile)."""
        await self._checks.update_one({"_id": boleto_id, "due": None}, {"$set": {"due": due}})
        await self._checks.update_one({"_id": boleto_id}, {"$set": {"lease_until": None}})

    async def pending(self) -> int:
        return await self._checks.count_documents({})
