"""Each tenant's settings in ``tenant_settings``: ``{_id: tenant, limits: {...}, price:
{...}, updated_at}`` (``limits`` and ``price`` hold only the fields an admin overrode). Other
features keep other siblings in the same document; nothing here touches them."""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.clock import now

COLLECTION = "tenant_settings"
SECTIONS = ("limits", "price")


class TenantRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._tenants = db[COLLECTION]

    async def settings(self, tenant: str) -> dict[str, dict[str, Any]]:
        """The tenant's stored overrides per section (each empty when it has none)."""
        doc = await self._tenants.find_one({"_id": tenant}, dict.fromkeys(SECTIONS, 1))
        return _sections(doc or {})

    async def all_settings(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every tenant's overrides per section, in one query."""
        query = {"$or": [{name: {"$exists": True}} for name in SECTIONS]}
        docs = self._tenants.find(query, dict.fromkeys(SECTIONS, 1))
        return {doc["_id"]: _sections(doc) async for doc in docs}

    async def change(self, tenant: str, sets: dict[str, Any], unsets: list[str]) -> None:
        """Set and remove the given fields (dotted: ``limits.burst``, ``price.currency``),
        the others staying as they are."""
        update: dict[str, Any] = {"$set": {**sets, "updated_at": now()}}
        if unsets:
            update["$unset"] = dict.fromkeys(unsets, "")
        await self._tenants.update_one({"_id": tenant}, update, upsert=True)


def _sections(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: dict(doc.get(name) or {}) for name in SECTIONS}
