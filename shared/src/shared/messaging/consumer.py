"""Subscribers: ack only after the handler persisted its effects; retries with backoff; DLQ.

A failing handler's message is republished (with confirms) to a TTL delay queue that
dead-letters back into the main queue; after ``max_attempts`` it goes to ``<queue>.dlq`` and
``on_dead`` lets the owning service mark the job failed with a reason.

A failure that is a dependency's outage (the database or the object store unreachable) burns
no attempt: the message is held until the dependency's circuit lets a probe through, then
returned to the queue as it was. While a circuit is open no handler runs at all.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.circuit import Outages, Unavailable
from shared.events import Event
from shared.logging import bound_ids, event_ids
from shared.messaging.broker import Broker, retry_delays
from shared.messaging.envelope import MalformedEvent, decode
from shared.messaging.metrics import HANDLER_SECONDS, MESSAGES, REDELIVERIES, count_queue
from shared.telemetry import consume_span, record_failure

log = structlog.get_logger()

ATTEMPT_HEADER = "x-attempt"
REPLAYS_HEADER = "x-replays"  # how often an operator put the message back from its DLQ
HOLD_S = (0.5, 30.0)  # bounds of how long a message waits out an outage before it is returned


@dataclass(frozen=True)
class Delivery:
    """How an event reached its handler: its CloudEvents id, source and time, and the attempt."""

    event_id: str
    attempt: int
    redelivered: bool
    source: str
    time: datetime
    # put back from the DLQ by an operator: what giving up on it did may have been undone
    replayed: bool = False


class PermanentError(Exception):
    """Retrying cannot help: dead-letter at once."""


Handler = Callable[[Any, Delivery], Awaitable[None]]
DeadHandler = Callable[[Event, str], Awaitable[None]]


class Subscription:
    def __init__(
        self,
        broker: Broker,
        queue: str,
        handlers: dict[type[Event], Handler],
        *,
        prefetch: int = 16,
        max_attempts: int = 5,
        base_delay_ms: int = 1000,
        on_dead: DeadHandler | None = None,
        outages: Outages | None = None,
    ) -> None:
        self.broker = broker
        self.queue = queue
        self.handlers = handlers
        self.prefetch = prefetch
        self.max_attempts = max_attempts
        self.delays = retry_delays(base_delay_ms, max_attempts)
        self.on_dead = on_dead
        self.outages = outages
        self._stopping = asyncio.Event()
        self._channel: AbstractChannel | None = None
        self._queue: aio_pika.abc.AbstractQueue | None = None
        self._tag: str | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        self._channel = await self.broker.connection.channel(publisher_confirms=True)
        await self._channel.set_qos(prefetch_count=self.prefetch)
        keys = [model.routing_key() for model in self.handlers]
        self._queue = await self.broker.declare_consumer_queue(
            self._channel, self.queue, keys, self.delays
        )
        count_queue(self.queue)
        self._tag = await self._queue.consume(self._on_message)
        log.info(
            "subscription.started", queue=self.queue, routing_keys=keys, prefetch=self.prefetch
        )

    async def stop(self, grace_s: float = 30.0) -> None:
        """Stop taking messages and let the ones in flight finish (and ack) for up to
        ``grace_s``; then close the channel, which returns those still unacked to the queue
        and cancels their handlers."""
        self._stopping.set()  # messages waiting out an outage go back to the queue now
        if self._channel is None or self._channel.is_closed:
            return
        if self._queue is not None and self._tag is not None:
            await self._queue.cancel(self._tag)
        try:
            await asyncio.wait_for(self._idle.wait(), grace_s)
        except TimeoutError:
            log.warning("subscription.stop_timeout", queue=self.queue, in_flight=self._in_flight)
        await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._in_flight += 1
        self._idle.clear()
        try:
            await self._process(message)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _process(self, message: AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        attempt = _attempt(headers.get(ATTEMPT_HEADER))
        if attempt > 1 or message.redelivered:
            REDELIVERIES.labels(self.queue).inc()
        try:
            received = decode(headers, message.content_type, message.body)
        except MalformedEvent as exc:
            log.warning("message.malformed", queue=self.queue, reason=str(exc))
            MESSAGES.labels(self.queue, "malformed").inc()
            await self._to_queue(message, f"{self.queue}.dlq", attempt, str(exc))
            return
        event, event_id = received.event, received.id
        handler = self.handlers.get(type(event))
        if handler is None:  # an event this queue does not read: malformed for it
            MESSAGES.labels(self.queue, "malformed").inc()
            await self._to_queue(message, f"{self.queue}.dlq", attempt, "no handler")
            return
        delivery = Delivery(
            event_id,
            attempt,
            bool(message.redelivered),
            received.source,
            received.time,
            replayed=REPLAYS_HEADER in headers,
        )
        key, tenant = event.routing_key(), event.tenant_id
        # the job (and subject) on every line about this message: the handler's, on_dead's
        # and the consumer's own (retried, dead-lettered, held)
        with (
            consume_span(headers, self.queue, key, event_id, tenant, attempt=attempt),
            bound_ids(**event_ids(event)),
        ):
            try:
                self._check_dependencies()
                await self._timed(handler(event, delivery))
            except PermanentError as exc:
                record_failure(exc, "dead_letter")
                await self._give_up(message, event, attempt, str(exc))
            except Exception as exc:
                if outage := self._outage(exc):
                    record_failure(exc, "held")
                    await self._hold(message, outage)
                    return
                log.exception("message.handler_failed", queue=self.queue, attempt=attempt)
                if attempt >= self.max_attempts:
                    record_failure(exc, "dead_letter")
                    await self._give_up(message, event, attempt, f"{type(exc).__name__}: {exc}")
                else:
                    record_failure(exc, "retry")
                    MESSAGES.labels(self.queue, "retried").inc()
                    delay = self.delays[attempt - 1]
                    await self._to_queue(message, f"{self.queue}.retry.{delay}ms", attempt + 1)
            else:
                await message.ack()
                MESSAGES.labels(self.queue, "acked").inc()

    async def _timed(self, handling: Awaitable[None]) -> None:
        started = time.perf_counter()
        try:
            await handling
        finally:
            HANDLER_SECONDS.labels(self.queue).observe(time.perf_counter() - started)

    def _outage(self, exc: BaseException) -> Unavailable | None:
        return self.outages.failed(exc) if self.outages else None

    def _check_dependencies(self) -> None:
        """While a circuit is open no handler starts; once its pause is over they do, and
        the first to meet the dependency probes it."""
        for circuit in self.outages.circuits() if self.outages else []:
            if circuit.blocked:
                raise Unavailable(circuit.name, circuit.retry_after_s)

    async def _hold(self, message: AbstractIncomingMessage, outage: Unavailable) -> None:
        """Wait until the dependency may be probed again, then requeue the message unchanged."""
        low, high = HOLD_S
        wait = min(max(outage.retry_after_s, low), high)
        log.warning(
            "message.held", queue=self.queue, dependency=outage.dependency, wait_s=round(wait, 1)
        )
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # lands as the event is set, and a stopping consumer would hold on
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._stopping.wait()
        await message.nack(requeue=True)
        MESSAGES.labels(self.queue, "held").inc()

    async def _give_up(
        self, message: AbstractIncomingMessage, event: Event, attempt: int, reason: str
    ) -> None:
        """Dead-letter the message once ``on_dead`` recorded the failure. An outage during
        that recording holds the message (it comes back and gives up again); any other error
        there is logged and the message dead-lettered all the same, never left unacknowledged."""
        if self.on_dead is not None:
            try:
                await self.on_dead(event, reason)
            except Exception as exc:
                if outage := self._outage(exc):
                    await self._hold(message, outage)
                    return
                log.exception("message.on_dead_failed", queue=self.queue, attempt=attempt)
        log.error("message.dead_lettered", queue=self.queue, attempt=attempt, reason=reason)
        MESSAGES.labels(self.queue, "dead_lettered").inc()
        await self._to_queue(message, f"{self.queue}.dlq", attempt, reason)

    async def _to_queue(
        self, message: AbstractIncomingMessage, queue: str, attempt: int, reason: str | None = None
    ) -> None:
        """Copy the message (confirmed) to another queue, then ack the original."""
        assert self._channel is not None
        headers = {**(message.headers or {}), ATTEMPT_HEADER: attempt}
        if reason is not None:
            headers["x-death-reason"] = reason[:1000]
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self._channel.default_exchange.publish(copy, routing_key=queue)
        await message.ack()


def _attempt(value: object) -> int:
    """The attempt number a retry stamped on the message; anything unreadable counts as 1."""
    try:
        return max(1, int(str(value)))
    except ValueError:
        return 1
