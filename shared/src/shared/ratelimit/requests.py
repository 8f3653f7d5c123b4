"""Each API key's request rate, shared by every replica at a fraction of a database write per
request.

A process leases a batch of slots from the key's shared bucket (``KeyBuckets``) and spends
them from memory; when the bucket is empty it refuses the key from memory until a whole batch
is free again. A batch is the slots of ``lease_s`` at the key's rate (at most ``burst``), so a
key at its limit costs each process about ``1 / lease_s`` writes per second, and a key far over
it no more. The price of batching: a key may pass its limit by up to one batch per process,
and a process may refuse a request while another still holds unspent slots of the same key.

While the database is out of reach, requests are let through: the limit protects the
platform, and an outage must not turn into refusals.
"""

import asyncio
import math
import time
from dataclasses import dataclass
from functools import partial

import structlog

from shared.ratelimit.lease_repository import KeyBuckets
from shared.singleflight import SingleFlight
from shared.tenants import TenantLimits, TenantSettings

log = structlog.get_logger()

LEASE_S = 0.25  # a batch is the slots of this long at the key's rate
# a slow database is waited for, as by every other request (letting a key through whenever a
# lease is slow would lift its limit exactly when the platform is busiest); an unreachable one
# fails within the client's server-selection timeout (MONGODB_SERVER_SELECTION_TIMEOUT_MS)
LEASE_TIMEOUT_S = 5.0
OPEN_AFTER_FAILURE_S = 5.0  # after a failed lease, requests pass without asking for this long
MAX_KEYS = 100_000  # the keys a process remembers before it starts afresh
ATTEMPTS = 3


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    headers: dict[str, str]  # RateLimit-Policy and RateLimit (and Retry-After when refused)
    retry_after_s: int = 0


@dataclass
class _Key:
    limits: TenantLimits
    tokens: int = 0
    denied_until: float = 0.0  # monotonic
    room: int = 0  # the shared bucket's free slots at the last lease
    full_at: float = 0.0  # monotonic; when the shared bucket was to be full again
    waiting: int = 0  # requests waiting for this key's lease


class RequestRateLimits:
    def __init__(
        self, buckets: KeyBuckets, tenants: TenantSettings, lease_s: float = LEASE_S
    ) -> None:
        self.buckets, self.tenants, self.lease_s = buckets, tenants, lease_s
        self._keys: dict[str, _Key] = {}
        self._leases: SingleFlight[str, None] = SingleFlight("rate limit leases")
        self._open_until = 0.0

    async def check(self, key_id: str, tenant: str) -> Verdict:
        """Spend one of the key's slots, or refuse with how long to wait."""
        limits = await self.tenants.limits(tenant)
        state = self._state(key_id, limits)
        for _ in range(ATTEMPTS):
            if verdict := self._spend(state):
                return verdict
            state.waiting += 1
            try:
                await self._leases.join(key_id, partial(self._lease, key_id, state))
            finally:
                state.waiting -= 1
        return self._refused(state, time.monotonic() + 1.0)  # outrun by this process's own

    def _state(self, key_id: str, limits: TenantLimits) -> _Key:
        state = self._keys.get(key_id)
        if state is None or state.limits != limits:  # a changed limit starts afresh
            if len(self._keys) >= MAX_KEYS:
                self._keys.clear()
            state = self._keys[key_id] = _Key(limits)
        return state

    def _spend(self, state: _Key) -> Verdict | None:
        now = time.monotonic()
        if now < self._open_until:
            return Verdict(True, {})
        if state.tokens > 0:
            state.tokens -= 1
            remaining = state.tokens + state.room
            return Verdict(True, _headers(state.limits, remaining, state.full_at - now))
        if now < state.denied_until:
            return self._refused(state, state.denied_until)
        return None

    def _refused(self, state: _Key, until: float) -> Verdict:
        wait_s = max(1, math.ceil(until - time.monotonic()))
        headers = _headers(state.limits, 0, wait_s)
        return Verdict(False, {**headers, "Retry-After": str(wait_s)}, wait_s)

    async def _lease(self, key_id: str, state: _Key) -> None:
        limits = state.limits
        batch = min(limits.burst, max(math.ceil(limits.requests_per_s * self.lease_s), 1))
        wanted = min(limits.burst, max(batch, state.waiting))
        try:
            async with asyncio.timeout(LEASE_TIMEOUT_S):
                lease = await self.buckets.lease(
                    key_id, wanted, 1000 / limits.requests_per_s, limits.burst
                )
        except Exception as exc:  # fail open: the database's outage is not the caller's
            self._open_until = time.monotonic() + OPEN_AFTER_FAILURE_S
            log.warning("rate_limit.lease_failed", error=type(exc).__name__, key_id=key_id)
            return
        now = time.monotonic()
        state.tokens += lease.granted
        state.room, state.full_at = lease.room, now + lease.full_in_s
        if lease.granted < wanted:  # the bucket is empty: once these are spent, wait for it
            state.denied_until = now + lease.free_in_s


def _headers(limits: TenantLimits, remaining: int, reset_s: float) -> dict[str, str]:
    """draft-ietf-httpapi-ratelimit-headers (-08 to -11): the policy is the burst over the
    time the bucket takes to fill."""
    window = max(1, math.ceil(limits.burst / limits.requests_per_s))
    return {
        "RateLimit-Policy": f'"default";q={limits.burst};w={window}',
        "RateLimit": f'"default";r={max(remaining, 0)};t={max(0, math.ceil(reset_s))}',
    }
