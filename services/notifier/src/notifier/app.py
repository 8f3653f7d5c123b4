"""``create_app()``: subscriptions, deliveries and the live stream, with a lifespan that opens
and closes every client."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from notifier.bootstrap import Repositories, webhook_service
from notifier.endpoints import router
from notifier.events import ROUTING_KEYS
from notifier.settings import NotifierSettings
from notifier.stream import StreamHub
from shared.bootstrap import Infra
from shared.http.app import attach_infra, build_app
from shared.logging import configure_logging
from shared.messaging.broadcast import Broadcast
from shared.settings import InfraSettings
from shared.telemetry import configure_telemetry


def create_app(
    infra_settings: InfraSettings | None = None, settings: NotifierSettings | None = None
) -> FastAPI:
    infra_settings = infra_settings or InfraSettings()
    settings = settings or NotifierSettings()
    configure_logging("notifier", infra_settings)
    configure_telemetry("notifier")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        infra = await Infra.open(infra_settings)
        await attach_infra(app, infra)
        repos = Repositories(infra)
        await repos.ensure_indexes()
        app.state.settings = settings
        app.state.webhooks = webhook_service(infra, repos, settings)
        app.state.replay = repos.replay
        app.state.hub = StreamHub(settings.stream_queue_size)
        broadcast = Broadcast(infra.broker, ROUTING_KEYS, app.state.hub.on_event)
        await broadcast.start()
        try:
            yield
        finally:
            await broadcast.stop()
            await infra.close()

    return build_app(
        "notifier",
        "Signed webhooks (Standard Webhooks, CloudEvents), a live event stream and e-mail.",
        lifespan,
        [router],
    )
