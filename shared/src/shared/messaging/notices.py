"""Notices from a service's writer to its own API replicas: "these documents changed so".

An event leaves before its writer applies it (the upload worker records a job's outcome after
the converter announced it), so a replica that hears the event cannot read the change yet. The
writer's notice, sent after its write, says what the write did: for each document, the
condition of its update and the fields it set. A replica holding the document as it was
applies the same update in memory and needs no read; one that does not reads it once.

Notices are not events: no contract, no persistence, no delivery to subscribers or webhooks.
They are hints for state kept in memory (``shared.caching``): transient, auto-acknowledged,
best effort. A replica that misses one looks again after a while, as it would without them.
The body is BSON, so values arrive with the types a read of the database gives them.
"""

from dataclasses import dataclass
from typing import Any

import aio_pika
import bson
import structlog
from bson.codec_options import CodecOptions
from bson.errors import BSONError

from shared.messaging.broker import Broker

log = structlog.get_logger()
CONTENT_TYPE = "application/bson"
# as the services' MongoDB clients read (shared.mongo)
_CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


@dataclass(frozen=True)
class Change:
    """One document's update: ``fields`` (dotted paths allowed) were set if, at the time,
    each field named in ``condition`` held one of the values listed for it."""

    condition: dict[str, list[Any]]
    fields: dict[str, Any]

    def applied_to(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """``doc`` after this update, or None when its condition does not hold for it."""
        if any(doc.get(name) not in values for name, values in self.condition.items()):
            return None
        updated = dict(doc)
        for path, value in self.fields.items():
            *parents, last = path.split(".")
            target = updated
            for name in parents:  # copied on the way down: the old document stays as it was
                target[name] = dict(target.get(name) or {})
                target = target[name]
            target[last] = value
        return updated


Recorded = dict[str, Change]  # per document id
# for a document whose new state the writer cannot describe: a condition no document meets,
# so a replica drops its copy and reads it when asked
READ_AGAIN = Change({"_id": []}, {})


def recorded_key(collection: str) -> str:
    """The routing key of the notices about ``collection``; no consumer queue binds it."""
    return f"notice.{collection}.recorded"


async def announce_recorded(broker: Broker, collection: str, recorded: Recorded) -> None:
    """Best effort: a notice that does not leave only delays the replicas' next look."""
    if not recorded:
        return
    message = aio_pika.Message(
        encode_recorded(recorded),
        content_type=CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
    )
    try:
        await broker.publish_message(recorded_key(collection), message)
    except Exception:
        log.warning(
            "notice.not_sent", collection=collection, documents=len(recorded), exc_info=True
        )


def encode_recorded(recorded: Recorded) -> bytes:
    return bson.encode(
        {doc_id: {"if": c.condition, "set": c.fields} for doc_id, c in recorded.items()}
    )


def parse_recorded(body: bytes) -> Recorded:
    """The notice's changes; a malformed notice raises ``ValueError``."""
    try:
        decoded = bson.decode(body, codec_options=_CODEC)
        return {
            doc_id: Change(dict(change["if"]), dict(change["set"]))
            for doc_id, change in decoded.items()
        }
    except (BSONError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a recorded notice: {exc}") from None
