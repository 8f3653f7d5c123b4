"""Sends deliveries, with bounded concurrency overall and per endpoint.

The worker that records a delivery records it leased to itself (``due_at`` moved past the
lease) and sends it from memory; a retry waits on an in-memory timer and leases its delivery
again. Nothing depends on that memory: a periodic sweep picks up whatever is due and held by
nobody alive (deliveries of a worker that was killed, retries it had scheduled), and an
outcome is recorded only under the lease it was attempted with. Two workers racing for one
delivery: one lease wins.

An endpoint at its bound (``per_endpoint`` attempts in flight) waits for its own slots, so a
slow or dead receiver holds at most that share of ``max_in_flight``.
"""

import asyncio
import contextlib
import heapq
import secrets
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter as Metric
from prometheus_client import Histogram

from notifier.delivery.receivers import Receivers
from notifier.delivery.schedule import next_delay
from notifier.delivery.senders import Outcome, Sender
from notifier.repository.deliveries import DeliveryRepository
from shared.cancellation import raise_lost_cancel
from shared.clock import now
from shared.logging import bind_ids
from shared.telemetry import continued

log = structlog.get_logger()
ATTEMPTS = Metric("notifier_delivery_attempts_total", "Delivery attempts", ["channel", "outcome"])
ATTEMPT_SECONDS = Histogram("notifier_delivery_attempt_seconds", "Attempt latency", ["channel"])
LATENCY = Histogram(
    "notifier_delivery_latency_seconds",
    "From the event to its successful delivery",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
)


@dataclass(frozen=True)
class Queued:
    id: str
    sub_id: str
    doc: dict[str, Any] | None = None  # kept only for deliveries this worker just recorded


@dataclass(frozen=True)
class Limits:
    max_in_flight: int
    per_endpoint: int
    lease: timedelta
    sweep_interval_s: float
    schedule: list[float]
    jitter: float
    retention: timedelta


def _since(moment: datetime) -> float:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return max((now() - aware).total_seconds(), 0.0)


class Dispatcher:
    def __init__(
        self,
        deliveries: DeliveryRepository,
        receivers: Receivers,
        senders: dict[str, Sender],
        limits: Limits,
    ) -> None:
        self.deliveries = deliveries
        self.receivers = receivers
        self.senders = senders
        self.limits = limits
        self.token = secrets.token_hex(8)
        self._wake = asyncio.Event()
        self._ready: dict[str, deque[Queued]] = defaultdict(deque)
        self._timers: list[tuple[datetime, str, str]] = []
        self._known: set[str] = set()
        self._in_flight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    def hold(self) -> tuple[str, datetime]:
        """The lease a delivery recorded now is born with: this worker's, for one lease time."""
        return self.token, now() + self.limits.lease

    def submit(self, docs: list[dict[str, Any]]) -> None:
        """Deliveries just recorded under ``hold()``: send them when their endpoints have room."""
        for doc in docs:
            self._enqueue(Queued(doc["_id"], doc["subscription_id"], doc))
        self._wake.set()

    def _enqueue(self, entry: Queued) -> None:
        if entry.id not in self._known:
            self._known.add(entry.id)
            self._ready[entry.sub_id].append(entry)

    async def run(self) -> None:
        next_sweep = 0.0
        while True:
            raise_lost_cancel()
            if time.monotonic() >= next_sweep:
                await self._sweep()
                next_sweep = time.monotonic() + self.limits.sweep_interval_s
            self._release_timers()
            self._start_ready()
            self._wake.clear()
            # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the wake-up instead
            # of raising when the task is cancelled as the event is set, and the loop then ran
            # on, holding its worker's shutdown (seen once in a test's teardown)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._idle_s(next_sweep)):
                    await self._wake.wait()

    async def _sweep(self) -> None:
        try:
            for doc in await self.deliveries.due(500):
                self._enqueue(Queued(doc["_id"], doc["subscription_id"]))
        except Exception:
            log.exception("dispatcher.sweep_failed")

    def _release_timers(self) -> None:
        current = now()
        while self._timers and self._timers[0][0] <= current:
            _, delivery_id, sub_id = heapq.heappop(self._timers)
            self._ready[sub_id].append(Queued(delivery_id, sub_id))

    def _idle_s(self, next_sweep: float) -> float:
        wait = next_sweep - time.monotonic()
        if self._timers:
            wait = min(wait, (self._timers[0][0] - now()).total_seconds())
        return max(wait, 0.01)

    def _start_ready(self) -> None:
        for sub_id in list(self._ready):
            queue = self._ready[sub_id]
            while (
                queue
                and self._in_flight[sub_id] < self.limits.per_endpoint
                and len(self._tasks) < self.limits.max_in_flight
            ):
                self._start(queue.popleft(), sub_id)
            if not queue:
                del self._ready[sub_id]

    def _start(self, entry: Queued, sub_id: str) -> None:
        self._in_flight[sub_id] += 1
        task = asyncio.create_task(self.attempt(entry))
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._in_flight[sub_id] -= 1
            if self._in_flight[sub_id] <= 0:
                del self._in_flight[sub_id]
            self._wake.set()

        task.add_done_callback(done)

    async def _lease(self, entry: Queued) -> dict[str, Any] | None:
        """The delivery, leased to this worker for the attempt; None when someone else has it."""
        until = now() + self.limits.lease
        if entry.doc is None:
            return await self.deliveries.claim(entry.id, self.token, until)
        if entry.doc["due_at"] - now() > self.limits.lease / 2:
            return entry.doc  # born leased to us, with time to spare for the attempt
        if await self.deliveries.renew(entry.id, self.token, until):
            return entry.doc
        return None

    async def attempt(self, entry: Queued) -> None:
        delivery_id, lease = entry.id, self.token
        retry_at: datetime | None = None
        sub_id = ""
        try:
            doc = await self._lease(entry)
            if doc is None:
                return  # settled already, or another worker holds it
            bind_ids(tenant_id=doc["tenant"], job_id=doc.get("subject"))
            sub_id = doc["subscription_id"]
            subscription = await self.receivers.get(doc["subscription_id"])
            if subscription is None or subscription["status"] != "enabled":
                state = "deleted" if subscription is None else "disabled"
                await self._finish(doc, lease, f"the subscription is {state}")
                return
            with continued(doc.get("trace")):  # the attempt's log line in the event's trace too
                outcome = await self.senders[doc["channel"]].send(doc, subscription)
                retry_at = await self._settle(doc, lease, outcome)
            await self.receivers.observe(subscription, outcome.ok)
        except Exception:
            # the lease runs out and the sweep tries it again: nothing is lost
            log.exception("delivery.attempt_crashed", delivery_id=delivery_id)
        finally:
            if retry_at is None:
                self._known.discard(delivery_id)
            else:
                heapq.heappush(self._timers, (retry_at, delivery_id, sub_id))

    async def _settle(self, doc: dict[str, Any], lease: str, outcome: Outcome) -> datetime | None:
        """Record the attempt; when it is to be tried again, the time."""
        number = doc["attempt_count"] + 1
        attempt = {
            "number": number,
            "at": now(),
            "status_code": outcome.status_code,
            "latency_ms": round(outcome.latency_ms, 1),
            "error": outcome.error,
        }
        delay = None
        if not outcome.ok and outcome.retry:
            delay = next_delay(
                self.limits.schedule, number, self.limits.jitter, outcome.retry_after_s
            )
        retry_at = None if delay is None else now() + timedelta(seconds=delay)
        if outcome.ok:
            changes = self._final("delivered", None)
        elif retry_at is not None:
            changes = {"status": "pending", "error": outcome.error, "due_at": retry_at}
        else:
            changes = self._final("failed", outcome.error)
        settled = await self.deliveries.settle(doc["_id"], lease, changes, attempt)
        ATTEMPTS.labels(doc["channel"], changes["status"]).inc()
        ATTEMPT_SECONDS.labels(doc["channel"]).observe(outcome.latency_ms / 1000)
        if outcome.ok and settled:
            LATENCY.labels(doc["channel"]).observe(_since(doc.get("event_at") or doc["created_at"]))
        log.info(
            "delivery.attempted",
            delivery_id=doc["_id"],
            attempt=number,
            status=changes["status"],
            status_code=outcome.status_code,
            latency_ms=attempt["latency_ms"],
        )
        return retry_at if settled else None

    def _final(self, status: str, error: str | None) -> dict[str, Any]:
        return {"status": status, "error": error, "expires_at": now() + self.limits.retention}

    async def _finish(self, doc: dict[str, Any], lease: str, reason: str) -> None:
        await self.deliveries.settle(doc["_id"], lease, self._final("failed", reason), None)

    async def drain(self, grace_s: float = 30.0) -> None:
        """Let the attempts in flight finish (their leases would otherwise send them twice),
        and hand back the deliveries still queued, so the next worker need not wait out their
        leases."""
        queued = [entry.id for queue in self._ready.values() for entry in queue]
        self._ready.clear()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_s)
        if queued:
            await self.deliveries.release(queued, self.token)
