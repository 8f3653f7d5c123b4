"""Each tenant's fair share of the bank's quota: at most ``bank_share`` of every rate limit.

A call to the bank made on behalf of a tenant first waits for the tenant's own slot, a GCRA
group ``<group>@<tenant>`` whose slots are ``1 / bank_share`` times further apart than the
bank's, and only then reserves its slot of the bank's group. A tenant flooding the bank thus
reserves the shared slots no faster than its share: the shared group's queue stays short, and
another tenant's call waits for at most a few slots instead of behind the whole flood. One
more atomic update per call (the tenant's reservation). The share is a ceiling, not a
reservation: a tenant alone uses only its share of the bank's rate. The OAuth token, the
webhook registration, the summary and the callback history serve every tenant and take no
share.
"""

import asyncio
from contextvars import ContextVar
from typing import Protocol

from shared.ratelimit.gcra import GlobalRateLimiter, Limit, TooLongAWait, WaitObserver
from shared.ratelimit.repository import RateLimitRepository
from shared.tenants import TenantLimits

# the tenant whose event the current task handles (each delivery runs in its own task)
_ON_BEHALF_OF: ContextVar[str | None] = ContextVar("bank_tenant", default=None)
SHARED_GROUPS = frozenset({"token", "webhook", "summary", "callbacks"})


def on_behalf_of(tenant: str) -> None:
    """The bank calls made from here on in this task count against ``tenant``'s share."""
    _ON_BEHALF_OF.set(tenant)


def _unobserved(group: str, waited_s: float) -> None:
    pass


class Limits(Protocol):
    async def limits(self, tenant: str) -> TenantLimits: ...


class FairShareLimiter(GlobalRateLimiter):
    def __init__(
        self,
        slots: RateLimitRepository,
        limits: dict[str, Limit],
        tenants: Limits,
        utilisation: float = 0.97,
        observe_wait: WaitObserver = _unobserved,
    ) -> None:
        super().__init__(slots, limits, utilisation, observe_wait)
        self.tenants = tenants

    async def acquire(self, group: str, max_wait_s: float = 300.0) -> float:
        tenant = _ON_BEHALF_OF.get()
        if tenant is None or group in SHARED_GROUPS:
            return await super().acquire(group, max_wait_s)
        share = (await self.tenants.limits(tenant)).bank_share
        waited = await self._tenant_turn(group, tenant, share, max_wait_s) if share < 1 else 0.0
        return waited + await super().acquire(group, max_wait_s - waited)

    async def _tenant_turn(self, group: str, tenant: str, share: float, max_wait_s: float) -> float:
        own = f"{group}@{tenant}"
        wait_s = await self.slots.reserve(
            own, self.limits[group].interval_ms(self.utilisation * share)
        )
        if wait_s > max_wait_s:
            await self.slots.release(own)
            raise TooLongAWait(wait_s)
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        return max(wait_s, 0.0)
