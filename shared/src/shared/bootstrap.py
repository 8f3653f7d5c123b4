"""Opens and closes every infrastructure client a process needs, in one place."""

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.auth.repository import ApiKeyRepository
from shared.auth.service import ApiKeys
from shared.circuit import Outages
from shared.crypto import Sealer
from shared.http.ops import Check, Readiness
from shared.messaging import Broker
from shared.mongo import STARTUP_WAIT_S, connect, database, reachable
from shared.settings import InfraSettings
from shared.storage import ObjectStore, create_store
from shared.storage.guarded import GuardedStore
from shared.tenants import TenantSettings


@dataclass
class Infra:
    settings: InfraSettings
    mongo: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    broker: Broker
    store: ObjectStore
    outages: Outages
    tenants: TenantSettings  # each tenant's limits, one cache per process

    @classmethod
    async def open(cls, settings: InfraSettings) -> "Infra":
        outages = Outages()
        mongo = connect(settings, outages.mongodb)
        await reachable(mongo, STARTUP_WAIT_S)
        broker = Broker(settings.rabbitmq_url, settings.events_exchange)
        await broker.connect()
        store = GuardedStore(create_store(settings), outages.storage)
        db = database(mongo, settings)
        return cls(settings, mongo, db, broker, store, outages, TenantSettings(db))

    @cached_property
    def sealer(self) -> Sealer:
        """Seals the secrets kept at rest; asked for by the services that keep any, at wiring,
        so that a missing key in production stops their start-up."""
        return Sealer.from_settings(self.settings)

    async def close(self) -> None:
        await self.broker.close()
        await self.mongo.close()

    def readiness(self, checks: dict[str, Check] | None = None) -> Readiness:
        """Readiness on this process's own ``checks``, reporting the dependencies' state."""
        return Readiness(self.outages, lambda: self.broker.is_connected, checks)

    async def api_keys(self) -> ApiKeys:
        """The API keys (indexes ensured, development keys inserted when missing, never
        un-revoked; the settings refuse them in production), resolved through a cache."""
        keys = ApiKeyRepository(self.db)
        await keys.ensure_indexes()
        if self.settings.dev_api_key:
            await keys.ensure(self.settings.dev_api_key, "dev", admin=False)
        if self.settings.dev_admin_key:
            await keys.ensure(self.settings.dev_admin_key, "admin", admin=True)
        return ApiKeys(keys, self.settings.api_key_cache_seconds)
