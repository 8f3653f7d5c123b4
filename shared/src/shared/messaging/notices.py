"""Notices from a service's writer to its own API replicas: "these documents are recorded".

An event leaves before its writer applies it (the upload worker records a job's outcome after
the converter announced it), so a replica that hears the event cannot read the change yet. The
writer's notice, sent after its write, tells every replica when one read will show it.

Notices are not events: no contract, no persistence, no delivery to subscribers or webhooks.
They are hints for state kept in memory (``shared.caching``): transient, auto-acknowledged,
best effort. A replica that misses one looks again after a while, as it would without them.
"""

import json
from typing import Any

import aio_pika
import structlog

from shared.messaging.broker import Broker

log = structlog.get_logger()

# per document id, some of the fields written (for logs and tests; a cache reads the document)
Recorded = dict[str, dict[str, Any]]


def recorded_key(collection: str) -> str:
    """The routing key of the notices about ``collection``; no consumer queue binds it."""
    return f"notice.{collection}.recorded"


async def announce_recorded(broker: Broker, collection: str, recorded: Recorded) -> None:
    """Best effort: a notice that does not leave only delays the replicas' next look."""
    if not recorded:
        return
    message = aio_pika.Message(
        json.dumps(recorded, separators=(",", ":")).encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
    )
    try:
        await broker.publish_message(recorded_key(collection), message)
    except Exception:
        log.warning(
            "notice.not_sent", collection=collection, documents=len(recorded), exc_info=True
        )


def parse_recorded(body: bytes) -> Recorded:
    """The notice's documents; a malformed notice raises ``ValueError``."""
    recorded = json.loads(body)
    if not isinstance(recorded, dict) or not all(
        isinstance(fields, dict) for fields in recorded.values()
    ):
        raise ValueError("a recorded notice maps document ids to objects")
    return recorded
