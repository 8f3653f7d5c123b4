"""Each tenant's limits: documented defaults (``TENANT_DEFAULT_<FIELD>``) with an admin's
overrides on top, stored in ``tenant_settings`` (``{_id: tenant, limits: {...}, updated_at}``;
other siblings of ``limits`` belong to other features and are left alone).

Every process keeps all overrides in memory and reloads them, in one query, at most every
``refresh_s``: a lookup costs no database operation, and a change lands on every replica
within a few seconds. While the database is out of reach the last known values (or the
defaults) keep being served.
"""

import asyncio
import os
import time
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from shared.tenant_repository import TenantRepository

log = structlog.get_logger()

ENV_PREFIX = "TENANT_DEFAULT_"
READ_TIMEOUT_S = 5.0  # a slow database is waited for; past this the last known limits stay


# at their maxima, a tenant's uploads and jobs in flight are not counted at all (unlimited)
MAX_CONCURRENT_UPLOADS = 10_000
MAX_JOBS_IN_FLIGHT = 1_000_000


class TenantLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_s: float = Field(
        default=50.0, gt=0, le=100_000, description="sustained API requests per second per API key"
    )
    burst: int = Field(default=100, ge=1, le=1_000_000, description="requests allowed at once")
    concurrent_uploads: int = Field(
        default=4, ge=1, le=MAX_CONCURRENT_UPLOADS, description="uploads at once per key"
    )
    jobs_in_flight: int = Field(
        default=200,
        ge=1,
        le=MAX_JOBS_IN_FLIGHT,
        description="a tenant's conversions queued or converting",
    )
    webhooks: int = Field(
        default=20, ge=1, le=10_000, description="webhook subscriptions per tenant"
    )
    sse_connections: int = Field(
        default=10, ge=1, le=10_000, description="open event streams per tenant"
    )
    bank_share: float = Field(
        default=0.5, gt=0, le=1, description="fraction of the bank's quota one tenant may use"
    )

    @property
    def uploads_unlimited(self) -> bool:
        """Both upload quotas at their maxima: nothing to count, so nothing is written."""
        return (
            self.concurrent_uploads >= MAX_CONCURRENT_UPLOADS
            and self.jobs_in_flight >= MAX_JOBS_IN_FLIGHT
        )


LIMIT_FIELDS = tuple(TenantLimits.model_fields)


def default_limits() -> TenantLimits:
    """The model's defaults, each replaced by ``TENANT_DEFAULT_<FIELD>`` when set (a bad value
    fails the start, with pydantic's message)."""
    given = {
        name: os.environ[f"{ENV_PREFIX}{name.upper()}"]
        for name in LIMIT_FIELDS
        if f"{ENV_PREFIX}{name.upper()}" in os.environ
    }
    return TenantLimits.model_validate(given)


class UnknownLimit(ValueError):
    """A change names a field that is not one of the limits."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"unknown limits: {', '.join(names)}")
        self.names = names


class TenantSettings:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], refresh_s: float = 2.0) -> None:
        self._repository = TenantRepository(db)
        self.refresh_s = refresh_s
        self.defaults = default_limits()
        self._overrides: dict[str, dict[str, Any]] = {}
        self._merged: dict[str, TenantLimits] = {}
        self._loaded_at: float | None = None
        self._loading: asyncio.Task[None] | None = None

    async def limits(self, tenant: str) -> TenantLimits:
        """The tenant's limits. Only the first call of a process waits for the overrides
        (briefly); later ones answer from memory and refresh it in the background."""
        if self._loaded_at is None:
            await self._refresh()
        elif time.monotonic() - self._loaded_at >= self.refresh_s:
            self._refresh_soon()
        return self._limits_of(tenant)

    async def read(self, tenant: str) -> TenantLimits:
        """The tenant's limits as stored now (one read, not the cache): for admins."""
        return self._merged_or_defaults(
            tenant, _valid({tenant: await self._stored(tenant)})[tenant]
        )

    async def update(self, tenant: str, changes: dict[str, Any]) -> TenantLimits:
        """Merge-patch the tenant's limits: the given fields change, a ``None`` goes back to
        the default, the others stay. Raises ``UnknownLimit`` or pydantic's
        ``ValidationError`` (nothing is written then)."""
        if unknown := sorted(set(changes) - set(LIMIT_FIELDS)):
            raise UnknownLimit(unknown)
        current = await self._stored(tenant)
        merged = {**current, **changes}
        overrides = {name: value for name, value in merged.items() if value is not None}
        limits = self._merge(overrides, strict=True)  # before anything is written
        await self._write(tenant, changes, limits)
        self._overrides[tenant] = {k: getattr(limits, k) for k in overrides}
        self._merged.pop(tenant, None)
        return limits

    def _limits_of(self, tenant: str) -> TenantLimits:
        if tenant not in self._overrides:
            return self.defaults
        if tenant not in self._merged:
            self._merged[tenant] = self._merged_or_defaults(tenant, self._overrides[tenant])
        return self._merged[tenant]

    def _merged_or_defaults(self, tenant: str, overrides: dict[str, Any]) -> TenantLimits:
        try:
            return self._merge(overrides)
        except ValidationError:  # written by hand, out of range: never fail a lookup
            log.warning("tenant_settings.invalid_override", tenant=tenant)
            return self.defaults

    def _merge(self, overrides: dict[str, Any], strict: bool = False) -> TenantLimits:
        """Strict for an admin's change: ``true`` or ``"7"`` is not a number of requests."""
        merged = {**self.defaults.model_dump(), **overrides}
        return TenantLimits.model_validate(merged, strict=strict)

    async def _stored(self, tenant: str) -> dict[str, Any]:
        return await self._repository.limits(tenant)

    async def _write(self, tenant: str, changes: dict[str, Any], limits: TenantLimits) -> None:
        sets = {k: getattr(limits, k) for k, v in changes.items() if v is not None}
        unsets = [k for k, v in changes.items() if v is None]
        await self._repository.change(tenant, sets, unsets)

    def _refresh_soon(self) -> None:
        if self._loading is None or self._loading.done():
            self._loading = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        """All overrides in one query; a failure keeps what was known (retried next period)."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                loaded = await self._repository.all_limits()
        except Exception as exc:  # an outage must never fail the request that asked
            log.warning("tenant_settings.refresh_failed", error=type(exc).__name__)
            self._loaded_at = started
            return
        self._overrides, self._merged, self._loaded_at = _valid(loaded), {}, started


def _valid(loaded: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Stored overrides that still name known fields (a field removed from the code, or
    written by hand, is ignored rather than failing every lookup)."""
    return {
        tenant: {k: v for k, v in limits.items() if k in LIMIT_FIELDS}
        for tenant, limits in loaded.items()
    }
