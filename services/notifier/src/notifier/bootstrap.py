"""Wires the notifier: its API's dependencies and its worker, from open infrastructure."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from notifier.confirming import CHANNEL as CONFIRMATION
from notifier.confirming import Confirmations
from notifier.consumer import deliverable_events
from notifier.delivery.dispatcher import Dispatcher, Limits
from notifier.delivery.mail import ConfirmationSender, EmailSender
from notifier.delivery.receivers import Receivers
from notifier.delivery.senders import Sender, WebhookSender
from notifier.delivery.transport import webhook_client
from notifier.events import ROUTING_KEYS
from notifier.handlers import FanOutDeps
from notifier.repository.confirmations import ConfirmationRepository
from notifier.repository.deliveries import DeliveryRepository
from notifier.repository.replay import ReplayRepository
from notifier.repository.streams import StreamSlots
from notifier.repository.subscriptions import SubscriptionRepository
from notifier.service import WebhookService
from notifier.settings import NotifierSettings
from notifier.stream import LiveStream, StreamHub
from notifier.targets import TargetPolicy
from shared.bootstrap import Infra
from shared.messaging import OutboxRelay
from shared.messaging.broadcast import Broadcast
from shared.service import Worker

DELIVERY_RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class RepositoryDeps:
    """The notifier's repositories, and the relay that publishes the subscriptions' outbox."""

    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    replay: ReplayRepository
    relay: OutboxRelay
    confirmations: ConfirmationRepository

    @classmethod
    def build(cls, infra: Infra) -> "RepositoryDeps":
        subscriptions = SubscriptionRepository(infra.db, infra.sealer)
        return cls(
            subscriptions,
            DeliveryRepository(infra.db),
            ReplayRepository(infra.db),
            OutboxRelay(subscriptions.outbox, infra.broker),
            ConfirmationRepository(infra.db),
        )

    async def ensure_indexes(self) -> None:
        await self.subscriptions.ensure_indexes()
        await self.deliveries.ensure_indexes()
        await self.replay.ensure_indexes()
        await self.confirmations.ensure_indexes()


@dataclass(frozen=True)
class ApiDeps:
    """What the routes call: ``request.app.state.deps``."""

    webhooks: WebhookService
    stream: LiveStream


@asynccontextmanager
async def api(infra: Infra, settings: NotifierSettings) -> AsyncIterator[ApiDeps]:
    """The API's services, with this replica's own broadcast queue feeding its live stream."""
    repos = RepositoryDeps.build(infra)
    await repos.ensure_indexes()
    hub = StreamHub(settings.stream_queue_size)
    slots = StreamSlots(infra.db, settings.heartbeat_s)
    await slots.ensure_indexes()
    stream = LiveStream(
        hub, repos.replay, settings.replay_max_events, settings.heartbeat_s, slots, infra.tenants
    )
    broadcast = Broadcast(infra.broker, ROUTING_KEYS, hub.on_event)
    await broadcast.start()
    renewing = asyncio.create_task(slots.run())
    try:
        yield ApiDeps(webhook_service(infra, repos, settings), stream)
    finally:
        renewing.cancel()
        await asyncio.gather(renewing, return_exceptions=True)
        await slots.close()
        await broadcast.stop()


async def worker(infra: Infra, settings: NotifierSettings) -> Worker:
    """Fan-out of every deliverable event, the dispatcher that sends, the outbox relay."""
    repos = RepositoryDeps.build(infra)
    await repos.ensure_indexes()
    sending, webhooks = dispatcher(infra, repos, settings)
    fan_out = FanOutDeps(
        repos.subscriptions,
        repos.deliveries,
        repos.replay,
        timedelta(seconds=settings.replay_window_s),
        sending,
        infra.tenants,
    )
    return Worker(
        subscriptions=[deliverable_events(infra, fan_out, settings.prefetch)],
        relays=[repos.relay],
        loops=[sending.run()],
        closers=[sending.drain, webhooks.client.aclose],
    )


def target_policy(infra: Infra, settings: NotifierSettings) -> TargetPolicy:
    return TargetPolicy.build(
        infra.settings.environment,
        settings.allow_http,
        settings.allow_loopback,
        settings.allowed_networks,
        settings.allowed_ports,
    )


def webhook_service(
    infra: Infra, repos: RepositoryDeps, settings: NotifierSettings
) -> WebhookService:
    return WebhookService(
        repos.subscriptions,
        repos.deliveries,
        target_policy(infra, settings),
        timedelta(seconds=settings.secret_grace_s),
        DELIVERY_RETENTION,
        email_enabled=bool(settings.smtp_host),
        tenants=infra.tenants,
        confirmations=Confirmations(
            repos.confirmations,
            repos.deliveries,
            settings.public_notifier_url,
            timedelta(seconds=settings.email_confirm_ttl_s),
            timedelta(seconds=settings.email_confirm_resend_s),
        ),
    )


def dispatcher(
    infra: Infra, repos: RepositoryDeps, settings: NotifierSettings
) -> tuple[Dispatcher, WebhookSender]:
    """The dispatcher, and its webhook sender (whose HTTP client the worker closes last)."""
    client = webhook_client(
        target_policy(infra, settings), settings.attempt_timeout_s, settings.max_in_flight
    )
    webhooks = WebhookSender(client, settings.attempt_timeout_s, settings.max_response_bytes)
    receivers = Receivers(
        repos.subscriptions,
        repos.relay,
        settings.disable_after_failures,
        timedelta(seconds=settings.disable_after_s),
    )
    limits = Limits(
        max_in_flight=settings.max_in_flight,
        per_endpoint=settings.max_in_flight_per_endpoint,
        lease=timedelta(seconds=settings.attempt_timeout_s + settings.lease_margin_s),
        sweep_interval_s=settings.sweep_interval_s,
        schedule=settings.retry_schedule_s,
        jitter=settings.retry_jitter,
        retention=DELIVERY_RETENTION,
    )
    senders: dict[str, Sender] = {
        "webhook": webhooks,
        "email": EmailSender(settings),
        CONFIRMATION: ConfirmationSender(settings),
    }
    return Dispatcher(repos.deliveries, receivers, senders, limits), webhooks
