"""Events leave through the boleto they concern: an outbox entry written with the change it
announces, published right after the write (``OutboxRelay.flush_or_defer``)."""

from typing import Any

from shared.events import Event
from shared.messaging import encode, outbox_entry

SOURCE = "/services/boleto-sync"


def entry(event: Event, event_id: str | None = None) -> dict[str, Any]:
    return outbox_entry(encode(event, SOURCE, event_id))
