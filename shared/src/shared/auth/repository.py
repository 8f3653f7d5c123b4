"""All MongoDB access for API keys. Only the sha256 of a key is stored."""

import hashlib
import secrets
from contextlib import suppress
from typing import Any
from uuid import uuid4

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.clock import now

KEY_PREFIX = "sk_"


def hash_key(key: str) -> str:
    # keys are 256-bit random secrets, so a fast hash is enough (no dictionary to attack)
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKeyRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._keys = db["api_keys"]

    async def ensure_indexes(self) -> None:
        await self._keys.create_index("hash", unique=True)
        await self._keys.create_index("tenant")

    async def create(
        self, tenant: str, admin: bool = False, key: str | None = None, by: str | None = None
    ) -> tuple[str, str]:
        key = key or new_key()
        key_id = f"key_{uuid4().hex[:16]}"
        await self._keys.insert_one(
            {
                "_id": key_id,
                "hash": hash_key(key),
                "tenant": tenant,
                "admin": admin,
                "created_at": now(),
                "created_by": by,
                "revoked_at": None,
            }
        )
        return key_id, key

    async def ensure(self, key: str, tenant: str, admin: bool) -> None:
        """Make a configured key (DEV_API_KEY, DEV_ADMIN_KEY) exist; idempotent across replicas.

        Only inserts: a key already stored keeps its tenant, flag and revocation, so a restart
        never brings back a key an admin revoked."""
        with suppress(DuplicateKeyError):  # another replica inserted it at the same moment
            await self._keys.update_one(
                {"hash": hash_key(key)},
                {
                    "$setOnInsert": {
                        "_id": f"key_{uuid4().hex[:16]}",
                        "tenant": tenant,
                        "admin": admin,
                        "created_at": now(),
                        "revoked_at": None,
                    },
                },
                upsert=True,
            )

    async def find_active(self, key: str) -> dict[str, Any] | None:
        return await self._keys.find_one({"hash": hash_key(key), "revoked_at": None})

    async def revoke(self, key_id: str, by: str | None = None) -> bool:
        result = await self._keys.update_one(
            {"_id": key_id, "revoked_at": None},
            {"$set": {"revoked_at": now(), "revoked_by": by}},
        )
        return result.modified_count == 1

    async def list_keys(self, tenant: str | None = None) -> list[dict[str, Any]]:
        query = {"tenant": tenant} if tenant else {}
        return await self._keys.find(query, {"hash": 0}).to_list(1000)
