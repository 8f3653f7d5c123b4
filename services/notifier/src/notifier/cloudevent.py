"""Events in the CloudEvents HTTP binding (structured JSON), the body every channel carries."""

import json
from datetime import datetime
from typing import Any

from cloudevents.core.bindings import http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from shared.events import Event

SOURCE = "/schedule-platform"
_FORMAT = JSONFormat()


def structured(
    event: Event, event_id: str, time: datetime, source: str = SOURCE
) -> tuple[bytes, str]:
    """(body, content type) of the event as one ``application/cloudevents+json`` document."""
    attributes: dict[str, Any] = {
        "id": event_id,
        "source": source,
        "type": event.routing_key(),
        "time": time,
        "datacontenttype": "application/json",
        "tenantid": event.tenant_id,
    }
    if subject := event.subject():
        attributes["subject"] = subject
    message = http.to_structured(CloudEvent(attributes, event.model_dump(mode="json")), _FORMAT)
    return message.body, message.headers["content-type"]


def compact(body: bytes) -> str:
    """The document on one line, as an SSE ``data:`` field needs it."""
    return json.dumps(json.loads(body), separators=(",", ":"))
