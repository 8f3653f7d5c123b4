"""Each tenant's limit overrides in ``tenant_settings``: ``{_id: tenant, limits: {...},
updated_at}``. Other features keep siblings of ``limits`` in the same document; nothing here
touches them."""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.clock import now

COLLECTION = "tenant_settings"


class TenantRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._tenants = db[COLLECTION]

    async def limits(self, tenant: str) -> dict[str, Any]:
        """The tenant's stored overrides (empty when it has none)."""
        doc = await self._tenants.find_one({"_id": tenant}, {"limits": 1})
        return dict((doc or {}).get("limits") or {})

    async def all_limits(self) -> dict[str, dict[str, Any]]:
        """Every tenant's overrides, in one query."""
        docs = self._tenants.find({"limits": {"$exists": True}}, {"limits": 1})
        return {doc["_id"]: dict(doc["limits"] or {}) async for doc in docs}

    async def change(self, tenant: str, sets: dict[str, Any], unsets: list[str]) -> None:
        """Set and remove the given limits, the others staying as they are."""
        update: dict[str, Any] = {
            "$set": {**{f"limits.{k}": v for k, v in sets.items()}, "updated_at": now()}
        }
        if unsets:
            update["$unset"] = {f"limits.{name}": "" for name in unsets}
        await self._tenants.update_one({"_id": tenant}, update, upsert=True)
