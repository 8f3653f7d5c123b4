"""What the platform's queues hold, and moving dead letters back to their queue.

Everything here runs on channels of its own: a passive declare of a missing queue makes the
broker close the channel it came on, which must never be a channel that consumes or
publishes events. Passive declares are not robust: a robust channel would answer a second
one from its memory and declare the queue again after a reconnection.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aio_pika
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel
from aiormq.exceptions import AMQPError, ChannelNotFoundEntity

from shared.circuit import Unavailable
from shared.clock import now
from shared.messaging.broker import Broker
from shared.messaging.consumer import ATTEMPT_HEADER, REPLAYS_HEADER
from shared.queues import PLATFORM_QUEUES, dead_letter_queue, retry_queues

log = structlog.get_logger()

BROKER_TIMEOUT_S = 5.0
# the consumer's attempt and the broker's delivery count start again with a replay
_RESET_HEADERS = (ATTEMPT_HEADER, "x-delivery-count")

# before a message goes back to its queue: undo what giving up on it did (a job marked failed)
BeforeReplay = Callable[[AbstractIncomingMessage], Awaitable[None]]


@dataclass(frozen=True)
class Depth:
    ready: int
    consumers: int


@dataclass(frozen=True)
class QueueView:
    queue: str
    declared: bool
    ready: int | None
    consumers: int | None
    dead_letters: int | None
    retrying: dict[str, int | None] = field(default_factory=dict)


class UnknownQueue(LookupError):
    """Not one of the platform's queues."""


class NotDeclared(LookupError):
    """One of the platform's queues, but its consumer has not declared it on this broker."""


class QueueAdmin:
    def __init__(self, broker: Broker, retry_base_delay_ms: int, max_attempts: int) -> None:
        self.broker = broker
        self.retry_base_delay_ms = retry_base_delay_ms
        self.max_attempts = max_attempts

    async def views(self) -> list[QueueView]:
        async with self._channel() as channel:
            return [await self._view(channel, queue) for queue in PLATFORM_QUEUES]

    async def replay(self, queue: str, limit: int, before: BeforeReplay | None = None) -> int:
        """Move up to ``limit`` dead letters of ``queue`` back to it: each is published
        (confirmed) before it is acked, so a failure in between leaves a copy in both, which
        consumers take as a redelivery. Only what the DLQ held when the replay began is
        moved: a message that dies again meanwhile waits for the next replay."""
        if queue not in PLATFORM_QUEUES:
            raise UnknownQueue(queue)
        async with self._channel() as channel:
            try:
                dlq = await channel.declare_queue(
                    dead_letter_queue(queue), passive=True, robust=False
                )
            except ChannelNotFoundEntity:
                raise NotDeclared(queue) from None
            waiting = dlq.declaration_result.message_count or 0
            moved = 0
            while moved < min(limit, waiting):
                message = await dlq.get(no_ack=False, fail=False, timeout=BROKER_TIMEOUT_S)
                if message is None:
                    break
                await self._move(channel, message, queue, before)
                moved += 1
        log.info("queue.replayed", queue=queue, moved=moved)
        return moved

    async def _move(
        self,
        channel: AbstractRobustChannel,
        message: AbstractIncomingMessage,
        queue: str,
        before: BeforeReplay | None,
    ) -> None:
        try:
            if before is not None:
                await before(message)
            await channel.default_exchange.publish(_replayed(message), routing_key=queue)
        except BaseException:
            with contextlib.suppress(Exception):  # the channel may be the reason
                await message.nack(requeue=True)
            raise
        await message.ack()

    async def _view(self, channel: AbstractRobustChannel, queue: str) -> QueueView:
        names = [queue, dead_letter_queue(queue)]
        names += retry_queues(queue, self.retry_base_delay_ms, self.max_attempts)
        depths = {name: await self._depth(channel, name) for name in names}
        main, dead = depths.pop(queue), depths.pop(dead_letter_queue(queue))
        return QueueView(
            queue=queue,
            declared=main is not None,
            ready=main.ready if main else None,
            consumers=main.consumers if main else None,
            dead_letters=dead.ready if dead else None,
            retrying={name: (d.ready if d else None) for name, d in depths.items()},
        )

    async def _depth(self, channel: AbstractRobustChannel, name: str) -> Depth | None:
        """The queue's depth, or None when the broker has no such queue (and closed the
        channel for asking: it is reopened for the next question)."""
        try:
            declared = await channel.declare_queue(name, passive=True, robust=False)
        except ChannelNotFoundEntity:
            await channel.reopen()
            return None
        result = declared.declaration_result
        return Depth(result.message_count or 0, result.consumer_count or 0)

    @asynccontextmanager
    async def _channel(self) -> AsyncIterator[AbstractRobustChannel]:
        """A confirming channel of its own; the broker out of reach is an outage (503)."""
        if not self.broker.is_connected:
            raise Unavailable("rabbitmq", 1.0)
        try:
            async with asyncio.timeout(BROKER_TIMEOUT_S):
                channel = await self.broker.connection.channel(publisher_confirms=True)
        except (AMQPError, ConnectionError, TimeoutError, RuntimeError) as exc:
            raise Unavailable("rabbitmq", BROKER_TIMEOUT_S) from exc
        try:
            yield channel
        except (AMQPError, ConnectionError) as exc:
            raise Unavailable("rabbitmq", BROKER_TIMEOUT_S) from exc
        finally:
            if not channel.is_closed:
                await channel.close()


def _replayed(message: AbstractIncomingMessage) -> aio_pika.Message:
    """The message as it was published (same CloudEvents id, trace and reason headers), with
    the attempt count reset and the replay counted and timed."""
    headers = {k: v for k, v in (message.headers or {}).items() if k not in _RESET_HEADERS}
    headers[REPLAYS_HEADER] = _count(headers.get(REPLAYS_HEADER)) + 1
    headers["x-replayed-at"] = now().isoformat()
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        message_id=message.message_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def _count(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
