"""Messaging's metrics: what subscribers handled and outboxes published, as they happen, and
what the broker and the outboxes hold, sampled in the background by every worker.

A sample never raises into the worker. One that fails (the broker or the database away)
drops the values it would have refreshed: a stale depth reads as a healthy queue.
"""

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from aio_pika.abc import AbstractRobustChannel
from prometheus_client import Counter, Gauge, Histogram

from shared.cancellation import raise_lost_cancel
from shared.messaging.broker import Broker
from shared.messaging.repository import OutboxRepository

log = structlog.get_logger()

OUTCOMES = ("acked", "retried", "dead_lettered", "held", "malformed")
SAMPLE_TIMEOUT_S = 5.0

MESSAGES = Counter("messaging_messages_total", "Messages handled", ["queue", "outcome"])
REDELIVERIES = Counter(
    "messaging_redeliveries_total", "Messages received again (redelivered or retried)", ["queue"]
)
HANDLER_SECONDS = Histogram(
    "messaging_handler_duration_seconds", "Time a message handler took", ["queue"]
)
QUEUE_DEPTH = Gauge("messaging_queue_depth", "Messages ready in a queue (sampled)", ["queue"])
QUEUE_CONSUMERS = Gauge("messaging_queue_consumers", "Consumers of a queue (sampled)", ["queue"])
OUTBOX_BACKLOG = Gauge(
    "outbox_backlog", "Documents holding unpublished events (sampled)", ["collection"]
)
OUTBOX_PUBLISHED = Counter(
    "outbox_published_total", "Events published from an outbox", ["collection"]
)


def count_queue(queue: str) -> None:
    """A subscriber's series exist from its start, at 0, so rates have a beginning."""
    for outcome in OUTCOMES:
        MESSAGES.labels(queue, outcome)
    REDELIVERIES.labels(queue)
    HANDLER_SECONDS.labels(queue)


class QueueSampler:
    """Depth and consumers of a worker's queues and their dead-letter queues, read with a
    passive declare on a channel of its own (a declare of a missing queue closes its
    channel; the subscriptions' channels must not share that fate)."""

    def __init__(self, broker: Broker, queues: Sequence[str]) -> None:
        self.broker = broker
        self.queues = [name for queue in queues for name in (queue, f"{queue}.dlq")]
        self._channel: AbstractRobustChannel | None = None

    async def sample(self) -> None:
        try:
            counts = await asyncio.wait_for(self._declare_all(), SAMPLE_TIMEOUT_S)
        except Exception as exc:
            log.warning("metrics.queue_sample_failed", error=type(exc).__name__)
            await self._drop_channel()
            for queue in self.queues:
                QUEUE_DEPTH.remove(queue)
                QUEUE_CONSUMERS.remove(queue)
            return
        for queue, (depth, consumers) in counts.items():
            QUEUE_DEPTH.labels(queue).set(depth)
            QUEUE_CONSUMERS.labels(queue).set(consumers)

    async def _drop_channel(self) -> None:
        """The next sample opens a fresh channel; this one is closed if it still can be."""
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), SAMPLE_TIMEOUT_S)

    async def _declare_all(self) -> dict[str, tuple[int, int]]:
        if self._channel is None or self._channel.is_closed:
            self._channel = await self.broker.connection.channel(publisher_confirms=False)
        counts = {}
        for queue in self.queues:
            # not robust: a robust channel answers a passive declare from its memory
            declared = await self._channel.declare_queue(queue, passive=True, robust=False)
            result = declared.declaration_result
            counts[queue] = (result.message_count or 0, result.consumer_count or 0)
        return counts


class OutboxSampler:
    """How many documents of each collection hold unpublished events: one count per
    collection per sample (SecantusDB counts slowly; every 15 s is cheap)."""

    def __init__(self, outboxes: Sequence[OutboxRepository]) -> None:
        self.outboxes = list(outboxes)

    async def sample(self) -> None:
        for outbox in self.outboxes:
            try:
                backlog = await asyncio.wait_for(outbox.backlog(), SAMPLE_TIMEOUT_S)
            except Exception as exc:
                log.warning(
                    "metrics.outbox_sample_failed",
                    collection=outbox.name,
                    error=type(exc).__name__,
                )
                OUTBOX_BACKLOG.remove(outbox.name)
                continue
            OUTBOX_BACKLOG.labels(outbox.name).set(backlog)


async def sample_every(interval_s: float, samplers: Sequence[QueueSampler | OutboxSampler]) -> None:
    """Refresh every sampler every ``interval_s`` until cancelled; the first time one interval
    after the start, once the worker's subscriptions have declared their queues."""
    while True:
        raise_lost_cancel()
        await asyncio.sleep(interval_s)
        for sampler in samplers:
            await sampler.sample()
