"""Each tenant's limits and price: documented defaults (``TENANT_DEFAULT_<FIELD>`` for the
limits; a price is free unless an admin sets one) with an admin's overrides on top, stored in
``tenant_settings`` (``{_id: tenant, limits: {...}, price: {...}, updated_at}``; other
siblings belong to other features and are left alone).

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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
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

MAX_PRICE_CENTS = 9_999_999_999  # R$ 99.999.999,99: the largest charge Banco Inter issues
CURRENCY = "BRL"


class TenantPrice(BaseModel):
    """What one conversion costs the tenant. Free when ``price_cents`` is 0 (the default):
    the one rule, whatever the other fields say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    price_cents: int = Field(
        default=0,
        ge=0,
        le=MAX_PRICE_CENTS,
        description="price per conversion in centavos; 0 means free",
    )
    currency: str = Field(
        default=CURRENCY,
        description="only BRL: Banco Inter charges in reais",
        json_schema_extra={"enum": [CURRENCY]},
    )
    # at least a day to pay (a charge due today could expire before the payer sees it), at
    # most 60 so a result is not held locked, nor a charge left open, for months
    due_days: int = Field(
        default=3, ge=1, le=60, description="days from the charge to its due date"
    )

    @field_validator("currency")
    @classmethod
    def _in_reais(cls, currency: str) -> str:
        if currency != CURRENCY:
            raise ValueError("only BRL is accepted: Banco Inter charges in reais")
        return currency

    @property
    def free(self) -> bool:
        return self.price_cents == 0


PRICE_FIELDS = tuple(TenantPrice.model_fields)
FREE = TenantPrice()


class TenantConfig(BaseModel):
    """A tenant's limits and price in force."""

    model_config = ConfigDict(frozen=True)

    limits: TenantLimits
    price: TenantPrice


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


class InvalidPrice(ValueError):
    """A price change out of range or of the wrong type (pydantic's errors in ``errors``)."""

    def __init__(self, invalid: ValidationError) -> None:
        super().__init__("invalid price")
        self.errors = invalid.errors(include_url=False, include_context=False)


class TenantSettings:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], refresh_s: float = 2.0) -> None:
        self._repository = TenantRepository(db)
        self.refresh_s = refresh_s
        self.defaults = default_limits()
        self._overrides: dict[str, dict[str, Any]] = {}
        self._merged: dict[str, TenantLimits] = {}
        self._prices: dict[str, TenantPrice] = {}
        self._loaded_at: float | None = None
        self._loading: asyncio.Task[None] | None = None

    async def limits(self, tenant: str) -> TenantLimits:
        """The tenant's limits. Only the first call of a process waits for the overrides
        (briefly); later ones answer from memory and refresh it in the background."""
        await self._fresh()
        return self._limits_of(tenant)

    async def price(self, tenant: str) -> TenantPrice:
        """The tenant's price, from the same cache and refresh as its limits."""
        await self._fresh()
        return self._prices.get(tenant, FREE)

    async def read(self, tenant: str) -> TenantLimits:
        """The tenant's limits as stored now (one read, not the cache): for admins."""
        return (await self.read_config(tenant)).limits

    async def read_config(self, tenant: str) -> TenantConfig:
        """The tenant's limits and price as stored now (one read, not the cache)."""
        stored = await self._repository.settings(tenant)
        limits = _valid({tenant: stored["limits"]})[tenant]
        return TenantConfig(
            limits=self._merged_or_defaults(tenant, limits),
            price=_price_or_free(tenant, stored["price"]),
        )

    async def update(self, tenant: str, changes: dict[str, Any]) -> TenantLimits:
        """Merge-patch the tenant's limits (see ``patch``)."""
        return (await self.patch(tenant, changes)).limits

    async def patch(
        self, tenant: str, limits: dict[str, Any], price: dict[str, Any] | None = None
    ) -> TenantConfig:
        """Merge-patch the tenant's limits and price: the given fields change, a ``None``
        goes back to the default, the others stay. Raises ``UnknownLimit``, pydantic's
        ``ValidationError`` (limits) or ``InvalidPrice``; nothing is written then."""
        price = price or {}
        if unknown := sorted(set(limits) - set(LIMIT_FIELDS)):
            raise UnknownLimit(unknown)
        stored = await self._repository.settings(tenant)
        limit_overrides = _overrides(stored["limits"], limits)
        price_overrides = _overrides(stored["price"], price)
        merged = self._merge(limit_overrides, strict=True)  # before anything is written
        try:
            new_price = TenantPrice.model_validate(price_overrides, strict=True)
        except ValidationError as invalid:
            raise InvalidPrice(invalid) from None
        await self._write(tenant, {"limits": (limits, merged), "price": (price, new_price)})
        self._overrides[tenant] = {k: getattr(merged, k) for k in limit_overrides}
        self._merged.pop(tenant, None)
        self._prices[tenant] = new_price
        return TenantConfig(limits=merged, price=new_price)

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

    async def _write(
        self, tenant: str, sections: dict[str, tuple[dict[str, Any], BaseModel]]
    ) -> None:
        sets, unsets = {}, []
        for section, (changes, validated) in sections.items():
            for name, value in changes.items():
                if value is None:
                    unsets.append(f"{section}.{name}")
                else:
                    sets[f"{section}.{name}"] = getattr(validated, name)
        await self._repository.change(tenant, sets, unsets)

    async def _fresh(self) -> None:
        if self._loaded_at is None:
            await self._refresh()
        elif time.monotonic() - self._loaded_at >= self.refresh_s:
            self._refresh_soon()

    def _refresh_soon(self) -> None:
        if self._loading is None or self._loading.done():
            self._loading = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        """All overrides in one query; a failure keeps what was known (retried next period)."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                loaded = await self._repository.all_settings()
        except Exception as exc:  # an outage must never fail the request that asked
            log.warning("tenant_settings.refresh_failed", error=type(exc).__name__)
            self._loaded_at = started
            return
        self._overrides = _valid({tenant: stored["limits"] for tenant, stored in loaded.items()})
        self._prices = {
            tenant: _price_or_free(tenant, stored["price"])
            for tenant, stored in loaded.items()
            if stored["price"]
        }
        self._merged, self._loaded_at = {}, started


def _valid(loaded: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Stored overrides that still name known fields (a field removed from the code, or
    written by hand, is ignored rather than failing every lookup)."""
    return {
        tenant: {k: v for k, v in limits.items() if k in LIMIT_FIELDS}
        for tenant, limits in loaded.items()
    }


def _overrides(stored: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = {**stored, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def _price_or_free(tenant: str, stored: dict[str, Any]) -> TenantPrice:
    """A stored price written by hand and out of range is served as free, never as an
    error, like an invalid limit (logged, so an operator sees it)."""
    try:
        return TenantPrice.model_validate({k: v for k, v in stored.items() if k in PRICE_FIELDS})
    except ValidationError:
        log.warning("tenant_settings.invalid_price", tenant=tenant)
        return FREE
