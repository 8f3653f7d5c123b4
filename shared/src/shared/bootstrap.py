"""Opens and closes every infrastructure client a process needs, in one place."""

from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.auth.repository import ApiKeyRepository
from shared.auth.service import ApiKeys
from shared.http.ops import Check
from shared.messaging import Broker
from shared.mongo import connect, database, ping
from shared.settings import InfraSettings
from shared.storage import ObjectStore, create_store


@dataclass
class Infra:
    settings: InfraSettings
    mongo: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    broker: Broker
    store: ObjectStore

    @classmethod
    async def open(cls, settings: InfraSettings) -> "Infra":
        mongo = connect(settings)
        broker = Broker(settings.rabbitmq_url, settings.events_exchange)
        await broker.connect()
        return cls(settings, mongo, database(mongo, settings), broker, create_store(settings))

    async def close(self) -> None:
        await self.broker.close()
        await self.mongo.close()

    def checks(self) -> dict[str, Check]:
        async def mongodb() -> bool:
            return await ping(self.mongo)

        async def rabbitmq() -> bool:
            return self.broker.is_connected

        return {"mongodb": mongodb, "rabbitmq": rabbitmq, "storage": self.store.ping}

    async def api_keys(self) -> ApiKeys:
        """The API keys (indexes ensured, development keys honoured), resolved through a cache."""
        keys = ApiKeyRepository(self.db)
        await keys.ensure_indexes()
        if self.settings.dev_api_key:
            await keys.ensure(self.settings.dev_api_key, "dev", admin=False)
        if self.settings.dev_admin_key:
            await keys.ensure(self.settings.dev_admin_key, "admin", admin=True)
        return ApiKeys(keys, self.settings.api_key_cache_seconds)
