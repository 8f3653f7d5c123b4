"""CloudEvents 1.0 in RabbitMQ binary mode (``ce-`` headers), via the SDK's own binding."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from shared.events import Event

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
    extra_headers: dict[str, str] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "routing_key": self.routing_key,
            "headers": {**self.headers, **self.extra_headers},
            "content_type": self.content_type,
            "body": self.body,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Envelope":
        return cls(doc["id"], doc["routing_key"], doc["headers"], doc["content_type"], doc["body"])


def encode(event: Event, source: str, event_id: str | None = None) -> Envelope:
    attributes: dict[str, Any] = {
        "id": event_id or str(uuid4()),
        "source": source,
        "type": event.routing_key(),
        "time": datetime.now(UTC),
        "datacontenttype": "application/json",
        "tenantid": event.tenant_id,
    }
    if subject := event.subject():
        attributes["subject"] = subject
    message = rabbitmq.to_binary(CloudEvent(attributes, event.model_dump(mode="json")), _FORMAT)
    return Envelope(
        attributes["id"], event.routing_key(), message.headers, message.content_type, message.body
    )


def decode(headers: dict[str, Any], content_type: str | None, body: bytes) -> tuple[str, Event]:
    """Return (event id, event) or raise MalformedEvent."""
    ce_headers = {k: _text(v) for k, v in headers.items() if isinstance(k, str)}
    try:
        ce = rabbitmq.from_binary(rabbitmq.RabbitMQMessage(ce_headers, content_type, body), _FORMAT)
        attributes = ce.get_attributes()
        model = Event.registry[attributes["type"]]
        return str(attributes["id"]), model.model_validate(ce.get_data())
    except KeyError as exc:
        raise MalformedEvent(f"unknown or missing event type: {exc}") from exc
    except Exception as exc:
        raise MalformedEvent(str(exc)[:500]) from exc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
