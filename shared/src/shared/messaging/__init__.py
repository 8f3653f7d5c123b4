"""RabbitMQ plumbing: topology, CloudEvents envelope, confirmed publishing, consuming, outbox."""

from shared.messaging.broker import Broker
from shared.messaging.consumer import Delivery, PermanentError, Subscription
from shared.messaging.envelope import Envelope, decode, encode
from shared.messaging.outbox import HOT_PATH_CLEAR_S, OutboxRelay, outbox_entry

__all__ = [
    "HOT_PATH_CLEAR_S",
    "Broker",
    "Delivery",
    "Envelope",
    "OutboxRelay",
    "PermanentError",
    "Subscription",
    "decode",
    "encode",
    "outbox_entry",
]
