"""MongoDB through PyMongo's async API (AsyncMongoClient); Motor is end-of-life."""

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.settings import InfraSettings


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
