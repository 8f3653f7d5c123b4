"""One robust connection per process: topology, confirmed persistent publishing, subscriptions."""

import asyncio
from collections.abc import Iterable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from shared.messaging.envelope import Envelope
from shared.telemetry import publish_span

QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}


def retry_delays(base_ms: int, attempts: int) -> list[int]:
    """Exponential backoff before attempt 2..N: base, 2*base, 4*base, ..."""
    return [base_ms * 2**i for i in range(max(attempts - 1, 0))]


class Broker:
    def __init__(self, url: str, exchange: str) -> None:
        self.url = url
        self.exchange_name = exchange
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": self.exchange_name}
        )
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    @property
    def connection(self) -> AbstractRobustConnection:
        assert self._connection is not None, "Broker.connect() first"
        return self._connection

    @property
    def is_connected(self) -> bool:
        """Linked to the broker now: a robust connection is not closed while it reconnects,
        so its ``connected`` event says whether the link is up."""
        connection = self._connection
        return connection is not None and connection.connected.is_set()

    async def publish(self, envelope: Envelope) -> None:
        """Publish persistently and wait for the broker's confirm."""
        assert self._exchange is not None, "Broker.connect() first"
        key = envelope.routing_key
        with publish_span(envelope.headers, self.exchange_name, key, envelope.id) as trace_headers:
            message = aio_pika.Message(
                envelope.body,
                headers={**envelope.headers, **trace_headers},  # type: ignore[arg-type]
                content_type=envelope.content_type,
                message_id=envelope.id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await self._exchange.publish(message, routing_key=key)

    async def publish_message(
        self, routing_key: str, message: aio_pika.abc.AbstractMessage
    ) -> None:
        """Publish a message as it is to the exchange (notices between a service's processes)."""
        assert self._exchange is not None, "Broker.connect() first"
        await self._exchange.publish(message, routing_key=routing_key)  # type: ignore[arg-type]

    async def publish_direct(self, queue: str, message: aio_pika.abc.AbstractMessage) -> None:
        """Publish to one queue by name through the default exchange (retries, dead letters)."""
        assert self._channel is not None, "Broker.connect() first"
        await self._channel.default_exchange.publish(message, routing_key=queue)  # type: ignore[arg-type]

    async def declare_consumer_queue(
        self,
        channel: AbstractChannel,
        queue: str,
        routing_keys: Iterable[str],
        delays_ms: list[int],
    ) -> aio_pika.abc.AbstractQueue:
        """A quorum queue bound to the events, one TTL delay queue per backoff step, and a DLQ."""
        exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await channel.declare_queue(f"{queue}.dlq", durable=True, arguments=QUORUM)
        for delay in delays_ms:
            await channel.declare_queue(
                f"{queue}.retry.{delay}ms",
                durable=True,
                arguments={
                    **QUORUM,
                    "x-message-ttl": delay,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": queue,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
        main = await channel.declare_queue(
            queue,
            durable=True,
            arguments={
                **QUORUM,
                # a message that kills its consumer again and again ends in the DLQ
                "x-delivery-limit": 20,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": f"{queue}.dlq",
            },
        )
        for key in routing_keys:
            await main.bind(exchange, routing_key=key)
        return main
