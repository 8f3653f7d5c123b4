"""Builds the notifier's parts from settings, for the api and the worker alike."""

from datetime import timedelta

from notifier.delivery.dispatcher import Dispatcher, Limits
from notifier.delivery.mail import EmailSender
from notifier.delivery.receivers import Receivers
from notifier.delivery.senders import Sender, WebhookSender
from notifier.delivery.transport import webhook_client
from notifier.repository.deliveries import DeliveryRepository
from notifier.repository.replay import ReplayRepository
from notifier.repository.subscriptions import SubscriptionRepository
from notifier.service import WebhookService
from notifier.settings import NotifierSettings
from notifier.targets import TargetPolicy
from shared.bootstrap import Infra
from shared.messaging import OutboxRelay

DELIVERY_RETENTION = timedelta(days=7)


class Repositories:
    def __init__(self, infra: Infra) -> None:
        self.subscriptions = SubscriptionRepository(infra.db)
        self.deliveries = DeliveryRepository(infra.db)
        self.replay = ReplayRepository(infra.db)
        self.relay = OutboxRelay(self.subscriptions.outbox, infra.broker)

    async def ensure_indexes(self) -> None:
        await self.subscriptions.ensure_indexes()
        await self.deliveries.ensure_indexes()
        await self.replay.ensure_indexes()
        await self.relay.ensure_indexes()


def target_policy(infra: Infra, settings: NotifierSettings) -> TargetPolicy:
    return TargetPolicy.build(
        infra.settings.environment,
        settings.allow_http,
        settings.allow_loopback,
        settings.allowed_networks,
    )


def webhook_service(
    infra: Infra, repos: Repositories, settings: NotifierSettings
) -> WebhookService:
    return WebhookService(
        repos.subscriptions,
        repos.deliveries,
        target_policy(infra, settings),
        timedelta(seconds=settings.secret_grace_s),
        DELIVERY_RETENTION,
    )


def dispatcher(
    infra: Infra, repos: Repositories, settings: NotifierSettings
) -> tuple[Dispatcher, WebhookSender]:
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
    senders: dict[str, Sender] = {"webhook": webhooks, "email": EmailSender(settings)}
    return Dispatcher(repos.deliveries, receivers, senders, limits), webhooks
