"""Events leave through the boleto they concern: an outbox entry written with the change it
announces, published right after the write."""

from typing import Any

import structlog

from shared.events import Event
from shared.messaging import OutboxRelay, encode, outbox_entry

log = structlog.get_logger()
SOURCE = "/services/boleto-sync"


def entry(event: Event) -> dict[str, Any]:
    return outbox_entry(encode(event, SOURCE))


async def publish(relay: OutboxRelay, boleto_id: str, entries: list[dict[str, Any]]) -> None:
    """Publish now; if the broker is away, the relay's sweep publishes the entries later."""
    try:
        await relay.flush(boleto_id, entries)
    except Exception:
        log.warning("boleto.publish_deferred", boleto_id=boleto_id, exc_info=True)
