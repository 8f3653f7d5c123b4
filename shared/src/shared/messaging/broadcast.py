"""Every replica hears every matching event: an exclusive, self-deleting queue per process.

For state each replica keeps in memory (caches, live streams), not for work: messages are
auto-acked and a replica that is down simply misses them. Besides events, a replica can hear
its service's notices (``shared.messaging.notices``), handed over as the raw body.
"""

from collections.abc import Callable, Iterable, Mapping

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.messaging.broker import Broker
from shared.messaging.envelope import MalformedEvent, Received, decode

log = structlog.get_logger()

Listener = Callable[[Received], None]


class Broadcast:
    """Hands every decoded event bound by ``routing_keys`` to ``listener`` (malformed ones are
    logged and dropped; a failing listener is logged and the next event still arrives)."""

    def __init__(
        self,
        broker: Broker,
        routing_keys: Iterable[str],
        listener: Listener,
        on_gap: Callable[[], None] | None = None,
        notices: Mapping[str, Callable[[bytes], None]] | None = None,
    ) -> None:
        """``on_gap`` runs when the connection came back: what was published meanwhile is lost
        to this replica (its queue went with the connection), so state built from it is not
        to be trusted. ``notices`` maps the routing key of a notice to its listener."""
        self.broker = broker
        self.routing_keys = list(routing_keys)
        self.notices = dict(notices or {})
        self.listener = listener
        self.on_gap = on_gap
        self._channel: AbstractChannel | None = None

    async def start(self) -> None:
        self._channel = await self.broker.connection.channel()
        exchange = await self._channel.declare_exchange(
            self.broker.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        for key in [*self.routing_keys, *self.notices]:
            await queue.bind(exchange, key)
        await queue.consume(self._on_message, no_ack=True)
        if self.on_gap is not None:
            self.broker.connection.reconnect_callbacks.add(self._reconnected)

    def _reconnected(self, *_: object) -> None:
        log.info("broadcast.reconnected_state_dropped", routing_keys=self.routing_keys)
        if self.on_gap is not None:
            self.on_gap()

    async def stop(self) -> None:
        self.broker.connection.reconnect_callbacks.discard(self._reconnected)
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        notice = self.notices.get(message.routing_key or "")
        if notice is not None:
            try:
                notice(message.body)
            except Exception:
                log.exception("broadcast.notice_failed", routing_key=message.routing_key)
            return
        try:
            received = decode(dict(message.headers or {}), message.content_type, message.body)
        except MalformedEvent as exc:
            log.warning(
                "broadcast.malformed_event", routing_key=message.routing_key, reason=str(exc)
            )
            return
        try:
            self.listener(received)
        except Exception:
            log.exception("broadcast.listener_failed", routing_key=message.routing_key)
