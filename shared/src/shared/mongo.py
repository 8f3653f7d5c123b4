"""MongoDB through PyMongo's async API (AsyncMongoClient); Motor is end-of-life."""

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.settings import InfraSettings


def connect(settings: InfraSettings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000)


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
