"""What the worker knows of each receiver: its subscription (briefly cached) and its health.

A run of failed attempts long enough (in count and in time) disables the endpoint; the
``webhook.endpoint.disabled`` event leaves in the same write, through the outbox.
"""

import time
from datetime import timedelta
from typing import Any

import structlog

from notifier.events import WebhookEndpointDisabled
from notifier.repository.subscriptions import SubscriptionRepository
from shared.clock import now
from shared.messaging import OutboxRelay, encode, outbox_entry

log = structlog.get_logger()
SOURCE = "/services/notifier"


class Receivers:
    def __init__(
        self,
        subscriptions: SubscriptionRepository,
        relay: OutboxRelay,
        disable_after_failures: int,
        disable_after: timedelta,
        cache_s: float = 2.0,
    ) -> None:
        self.subscriptions = subscriptions
        self.relay = relay
        self.disable_after_failures = disable_after_failures
        self.disable_after = disable_after
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._failing: set[str] = set()

    async def get(self, sub_id: str) -> dict[str, Any] | None:
        cached = self._cache.get(sub_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        doc = await self.subscriptions.by_id(sub_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[sub_id] = (time.monotonic() + self.cache_s, doc)
        return doc

    async def observe(self, subscription: dict[str, Any], ok: bool) -> None:
        if subscription["channel"] != "webhook":
            return
        sub_id = subscription["_id"]
        if ok:
            if sub_id in self._failing or subscription.get("streak"):
                self._failing.discard(sub_id)
                self._cache.pop(sub_id, None)
                await self.subscriptions.record_success(sub_id)
            return
        self._failing.add(sub_id)
        run = await self.subscriptions.record_failure(sub_id)
        if run is None or run.get("status") != "enabled":
            return
        count, since = run["streak"]["count"], run["streak"]["since"]
        if count >= self.disable_after_failures and now() - since >= self.disable_after:
            await self._disable(subscription, count)

    async def _disable(self, subscription: dict[str, Any], failures: int) -> None:
        reason = f"{failures} failed attempts in a row"
        event = WebhookEndpointDisabled(
            tenant_id=subscription["tenant"],
            webhook_id=subscription["_id"],
            url=subscription["url"],
            failures=failures,
            reason=reason,
        )
        entry = outbox_entry(encode(event, SOURCE))
        details = {"at": now(), "failures": failures, "reason": reason}
        if not await self.subscriptions.disable(subscription["_id"], details, entry):
            return
        self._cache.pop(subscription["_id"], None)
        log.warning("webhook.disabled", webhook_id=subscription["_id"], failures=failures)
        await self.relay.flush_or_defer(subscription["_id"], [entry])
