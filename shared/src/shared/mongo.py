"""MongoDB through PyMongo's async API (AsyncMongoClient); Motor is end-of-life."""

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.settings import InfraSettings

DUPLICATE_KEY = 11000


def connect(settings: InfraSettings) -> AsyncMongoClient[dict[str, Any]]:
    """A client whose pool stays small (``MONGODB_MAX_POOL_SIZE``): under a flood of requests
    a few busy connections get more done than hundreds contending in the server, and the
    requests wait in the pool instead."""
    return AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        maxPoolSize=settings.mongodb_max_pool_size,
    )


def database(
    client: AsyncMongoClient[dict[str, Any]], settings: InfraSettings
) -> AsyncDatabase[dict[str, Any]]:
    return client[settings.mongodb_db]


async def ping(client: AsyncMongoClient[dict[str, Any]]) -> bool:
    try:
        await client.admin.command("ping")
    except Exception:
        return False
    return True


async def insert_new(collection: AsyncCollection[Any], docs: list[dict[str, Any]]) -> set[int]:
    """Insert the documents whose ``_id`` is not stored yet (a redelivery inserts none); the
    positions in ``docs`` of those already there. Any other write error is raised."""
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if not errors or any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise
        return {error["index"] for error in errors}
    return set()
