"""Every replica hears every matching event: an exclusive, self-deleting queue per process.

For state each replica keeps in memory (caches, live streams), not for work: messages are
auto-acked and a replica that is down simply misses them.
"""

from collections.abc import Callable, Iterable

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.messaging.broker import Broker

log = structlog.get_logger()

Listener = Callable[[str, dict[str, str]], None]


class Broadcast:
    def __init__(self, broker: Broker, routing_keys: Iterable[str], listener: Listener) -> None:
        self.broker = broker
        self.routing_keys = list(routing_keys)
        self.listener = listener
        self._channel: AbstractChannel | None = None

    async def start(self) -> None:
        self._channel = await self.broker.connection.channel()
        exchange = await self._channel.declare_exchange(
            self.broker.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        for key in self.routing_keys:
            await queue.bind(exchange, key)
        await queue.consume(self._on_message, no_ack=True)

    async def stop(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        headers = {k: _text(v) for k, v in (message.headers or {}).items() if k.startswith("ce-")}
        try:
            self.listener(message.routing_key or "", headers)
        except Exception:
            log.exception("broadcast.listener_failed", routing_key=message.routing_key)


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
