"""Worker decisions on an incoming event: who gets it, recorded once, whatever redelivery does.

One delivery per matching subscription, its ``_id`` derived from the event and subscription
ids, recorded before the message is acked (a URL subscribed several times gets the event
once, from its oldest subscription; at most the tenant's webhook limit of them per event;
e-mail only once a recipient confirmed): a crash before the write redelivers the event, a
crash after it leaves the deliveries recorded (leased to the dead worker until the lease
runs out; then the sweep of any worker sends them).
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import structlog

from notifier.cloudevent import compact, structured
from notifier.filters import matches_any
from notifier.repository.deliveries import DeliveryRepository
from notifier.repository.replay import ReplayRepository
from notifier.repository.subscriptions import SubscriptionRepository
from shared.clock import now
from shared.events import Event
from shared.messaging import Delivery
from shared.telemetry import inject_trace
from shared.tenants import TenantLimits, TenantSettings

log = structlog.get_logger()


class Sending(Protocol):
    def hold(self) -> tuple[str, datetime]: ...

    def submit(self, docs: list[dict[str, Any]]) -> None: ...


@dataclass
class FanOutDeps:
    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    replay: ReplayRepository
    replay_window: timedelta
    sending: Sending
    tenants: TenantSettings | None = None  # the tenants' limits; the defaults without it

    async def limits(self, tenant: str) -> TenantLimits:
        return await self.tenants.limits(tenant) if self.tenants else TenantLimits()


def delivery_id(subscription_id: str, event_id: str) -> str:
    digest = hashlib.sha256(f"{subscription_id}\0{event_id}".encode()).hexdigest()
    return f"dlv_{digest[:32]}"


def delivery_document(
    subscription: dict[str, Any],
    event: Event,
    event_id: str,
    body: bytes,
    content_type: str,
    at: datetime,
    lease: tuple[str, datetime],
    event_at: datetime | None = None,
) -> dict[str, Any]:
    doc = {
        "_id": delivery_id(subscription["_id"], event_id),
        "tenant": event.tenant_id,
        "subscription_id": subscription["_id"],
        "channel": subscription["channel"],
        "event_id": event_id,
        "event_type": type(event).name,
        "subject": event.subject(),  # the job (boleto, webhook) it is about, for the logs
        "msg_id": event_id,
        "body": body,
        "content_type": content_type,
        "status": "pending",
        "attempts": [],
        "attempt_count": 0,
        "due_at": lease[1],
        "lease": lease[0],
        "error": None,
        "created_at": at,
        "updated_at": at,
        "event_at": event_at or at,  # when it happened: delivery latency counts from there
        "trace": inject_trace({}),  # every attempt, whoever makes it, joins the event's trace
    }
    if subscription["channel"] == "email":
        confirmed = subscription.get("confirmed", [])
        doc["recipients"] = [r for r in subscription["recipients"] if r in confirmed]
    return doc


def _url_key(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def targets_of(subscriptions: list[dict[str, Any]], name: str, cap: int) -> list[dict[str, Any]]:
    """Who gets an event: every matching subscription, oldest first, but each webhook URL
    once, at most ``cap`` webhooks, and e-mail only with a confirmed recipient."""
    matching = sorted(
        (s for s in subscriptions if matches_any(s["events"], name)),
        key=lambda s: (s["created_at"], s["_id"]),
    )
    webhooks: dict[str, dict[str, Any]] = {}
    for s in matching:
        if s["channel"] == "webhook":
            webhooks.setdefault(_url_key(s["url"]), s)
    emails = [s for s in matching if s["channel"] == "email" and s.get("confirmed")]
    return [*list(webhooks.values())[:cap], *emails]


async def fan_out(event: Event, delivery: Delivery, deps: FanOutDeps) -> None:
    received = now()
    replayed_at = deps.replay.stamp()
    body, content_type = structured(event, delivery.event_id, delivery.time, delivery.source)
    name = type(event).name
    subscriptions = await deps.subscriptions.enabled(event.tenant_id)
    cap = (await deps.limits(event.tenant_id)).webhooks
    targets = targets_of(subscriptions, name, cap)
    lease = deps.sending.hold()
    docs = [
        delivery_document(
            s, event, delivery.event_id, body, content_type, received, lease, delivery.time
        )
        for s in targets
    ]
    fresh = await deps.deliveries.add_new(docs)
    deps.sending.submit(fresh)
    await deps.replay.record(
        {
            "_id": delivery.event_id,
            "tenant": event.tenant_id,
            "type": event.routing_key(),
            "data": compact(body),
            "at": replayed_at,
        },
        deps.replay_window,
    )
    log.info(
        "event.fanned_out",
        event_type=name,
        deliveries=len(docs),
        new=len(fresh),
        subscriptions=len(subscriptions),
    )
