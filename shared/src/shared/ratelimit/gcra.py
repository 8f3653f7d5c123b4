"""One rate limit shared by every replica: GCRA reservations over an atomic MongoDB update.

Each request reserves the next free slot of its endpoint group in one atomic update (server
time), then sleeps until that slot. Slots are ``window / limit`` apart, scaled by
``utilisation`` (< 1 leaves room for network jitter), so however many replicas ask, any window
holds at most ``limit`` requests. A 429 from the bank moves the group's next slot past the
back-off for every replica at once.
"""

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from shared.ratelimit.repository import RateLimitRepository
from shared.telemetry import tracer

log = structlog.get_logger()

WaitObserver = Callable[[str, float], None]  # (group, seconds waited), e.g. a histogram's


def _ignore(group: str, waited_s: float) -> None:
    pass


@dataclass(frozen=True)
class Limit:
    requests: int
    window_s: float

    def interval_ms(self, utilisation: float) -> float:
        return self.window_s * 1000 / (self.requests * utilisation)


class TooLongAWait(Exception):
    """The next free slot is further away than the caller is willing to wait."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"next slot in {wait_s:.1f} s")
        self.wait_s = wait_s


class GlobalRateLimiter:
    def __init__(
        self,
        slots: RateLimitRepository,
        limits: dict[str, Limit],
        utilisation: float = 0.97,
        observe_wait: WaitObserver = _ignore,
    ) -> None:
        self.slots = slots
        self.limits = limits
        self.utilisation = utilisation
        self.observe_wait = observe_wait

    async def acquire(self, group: str, max_wait_s: float = 300.0) -> float:
        """Wait for this process's slot in ``group``; returns the seconds waited."""
        started = time.perf_counter()
        with tracer.start_as_current_span(
            "limiter wait", attributes={"limiter.group": group}
        ) as span:
            wait_s = await self.slots.reserve(
                group, self.limits[group].interval_ms(self.utilisation)
            )
            span.set_attribute("limiter.wait_s", round(max(wait_s, 0.0), 3))
            if wait_s > max_wait_s:
                await self.slots.release(group)
                raise TooLongAWait(wait_s)
            if wait_s > 0:
                await self.slots.record_wait(group, wait_s)
                await asyncio.sleep(wait_s)
            self.observe_wait(group, time.perf_counter() - started)
            return max(wait_s, 0.0)

    async def throttled(self, group: str, retry_after_s: float | None) -> float:
        """The bank answered 429: every replica's next slot moves past the back-off."""
        backoff = retry_after_s if retry_after_s is not None else self.limits[group].window_s
        backoff *= 1 + random.uniform(0, 0.1)  # replicas must not all return at once
        await self.slots.back_off(group, backoff)
        log.warning("rate_limit.throttled", group=group, backoff_s=round(backoff, 2))
        return backoff

    async def estimated_wait_s(self, group: str, queued: int = 0) -> float:
        """How long a request joining ``queued`` others would wait for its slot."""
        next_ms = await self.slots.next_slot_ms(group)
        ahead = next_ms / 1000 - time.time() if next_ms is not None else 0.0
        interval_s = self.limits[group].interval_ms(self.utilisation) / 1000
        return max(ahead, 0.0) + queued * interval_s

    async def stats(self) -> dict[str, Any]:
        counters = await self.slots.counters()
        now_ms = time.time() * 1000
        return {
            group: _group_stats(limit, counters.get(group, {}), now_ms)
            for group, limit in self.limits.items()
        }


def _group_stats(limit: Limit, doc: dict[str, Any], now_ms: float) -> dict[str, Any]:
    return {
        "limit": limit.requests,
        "window_s": limit.window_s,
        "requests_sent": doc.get("sent", 0),
        "waits": doc.get("waits", 0),
        "wait_seconds_total": round(doc.get("wait_s", 0.0), 3),
        "throttled_responses": doc.get("throttled", 0),
        "backoff_remaining_s": round(
            max(doc.get("backoff_until_ms", now_ms) - now_ms, 0) / 1000, 3
        ),
    }
