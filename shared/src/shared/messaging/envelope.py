"""CloudEvents 1.0 in RabbitMQ binary mode (``ce-`` headers), via the SDK's own binding."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from shared.clock import now
from shared.events import Event
from shared.telemetry import inject_trace

_FORMAT = JSONFormat()


class MalformedEvent(ValueError):
    """A message that is not a CloudEvent of a type we know, or whose data fails validation."""


@dataclass(frozen=True)
class Envelope:
    """An encoded event, ready to publish or to keep in an outbox."""

    id: str
    routing_key: str
    headers: dict[str, str]
    content_type: str | None
    body: bytes

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "routing_key": self.routing_key,
            "headers": self.headers,
            "content_type": self.content_type,
            "body": self.body,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Envelope":
        return cls(doc["id"], doc["routing_key"], doc["headers"], doc["content_type"], doc["body"])


@dataclass(frozen=True)
class Received:
    """A decoded event with the CloudEvents attributes its publisher set."""

    id: str
    source: str
    time: datetime
    event: Event


def encode(event: Event, source: str, event_id: str | None = None) -> Envelope:
    attributes: dict[str, Any] = {
        "id": event_id or str(uuid4()),
        "source": source,
        "type": event.routing_key(),
        "time": now(),
        "datacontenttype": "application/json",
        "tenantid": event.tenant_id,
    }
    if subject := event.subject():
        attributes["subject"] = subject
    message = rabbitmq.to_binary(CloudEvent(attributes, event.model_dump(mode="json")), _FORMAT)
    # the trace current now, not when a relay publishes the entry (maybe in another process)
    headers = inject_trace(dict(message.headers))
    return Envelope(
        attributes["id"], event.routing_key(), headers, message.content_type, message.body
    )


def decode(headers: dict[str, Any], content_type: str | None, body: bytes) -> Received:
    """Return the received event or raise MalformedEvent; never anything else."""
    try:
        ce_headers = {
            k: _text(v) for k, v in headers.items() if isinstance(k, str) and k.startswith("ce-")
        }
    except UnicodeDecodeError:
        raise MalformedEvent("a ce- header is not UTF-8 text") from None
    # the SDK would invent a missing id (defeating deduplication) and accept other spec versions
    if not ce_headers.get("ce-id"):
        raise MalformedEvent("missing ce-id")
    if ce_headers.get("ce-specversion") != "1.0":
        raise MalformedEvent("ce-specversion must be 1.0")
    model = Event.registry.get(ce_headers.get("ce-type", ""))
    if model is None:
        raise MalformedEvent(f"unknown or missing event type: {ce_headers.get('ce-type')!r}")
    try:
        ce = rabbitmq.from_binary(rabbitmq.RabbitMQMessage(ce_headers, content_type, body), _FORMAT)
        event = model.model_validate(ce.get_data())
    except Exception as exc:
        raise MalformedEvent(str(exc)[:500]) from exc
    if ce_headers.get("ce-tenantid", event.tenant_id) != event.tenant_id:
        raise MalformedEvent("ce-tenantid does not match the event's tenant_id")
    time = ce.get_time() or now()
    return Received(ce_headers["ce-id"], ce.get_source(), time, event)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
