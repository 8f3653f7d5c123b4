"""The shared OAuth token in MongoDB: one document per client in ``inter_tokens``, with the
lease a replica takes while it fetches a new token."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

WRITE_CONFLICT = 112


@dataclass(frozen=True)
class StoredToken:
    token: str
    expires_at: datetime
    refresh_at: datetime | None = None  # when replicas renew it (absent in older documents)


class TokenRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], key: str) -> None:
        self._tokens = db["inter_tokens"]
        self._key = key

    async def load(self) -> StoredToken | None:
        doc = await self._tokens.find_one({"_id": self._key})
        if not doc or not doc.get("token"):
            return None
        return StoredToken(doc["token"], doc["expires_at"], doc.get("refresh_at"))

    async def take_lease(self, now: datetime, until: datetime, owner: str) -> bool:
        """Whether ``owner`` now holds the lease: False while another replica's runs."""
        try:
            result = await self._tokens.update_one(
                {"_id": self._key, "$or": [{"lease_until": {"$lt": now}}, {"lease_until": None}]},
                {"$set": {"lease_until": until, "lease_owner": owner}},
                upsert=True,
            )
        except DuplicateKeyError:  # the lease is held: the upsert found no document to take
            return False
        except OperationFailure as exc:
            if exc.code != WRITE_CONFLICT:
                raise
            return False  # another replica took it at the same moment
        return result.modified_count == 1 or result.upserted_id is not None

    async def release_lease(self, owner: str) -> None:
        await self._tokens.update_one(
            {"_id": self._key, "lease_owner": owner}, {"$set": {"lease_until": None}}
        )

    async def save(self, token: str, expires_at: datetime, refresh_at: datetime) -> None:
        """The new token, for every replica; the lease ends with it."""
        await self._tokens.update_one(
            {"_id": self._key},
            {
                "$set": {
                    "token": token,
                    "expires_at": expires_at,
                    "refresh_at": refresh_at,
                    "lease_until": None,
                }
            },
        )

    async def expire(self, token: str, now: datetime) -> None:
        """Unless another replica already replaced ``token``."""
        await self._tokens.update_one(
            {"_id": self._key, "token": token}, {"$set": {"expires_at": now, "refresh_at": now}}
        )
