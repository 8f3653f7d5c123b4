"""``create_app()``: subscriptions, deliveries and the live stream."""

from functools import partial

from fastapi import FastAPI

from notifier.bootstrap import api
from notifier.cors import StreamCORS
from notifier.endpoints import router
from notifier.settings import NotifierSettings
from shared.service import service_app
from shared.settings import InfraSettings


def create_app(
    infra_settings: InfraSettings | None = None, settings: NotifierSettings | None = None
) -> FastAPI:
    settings = settings or NotifierSettings()
    app = service_app(
        "notifier",
        "Signed webhooks (Standard Webhooks, CloudEvents), a live event stream and e-mail.",
        [router],
        partial(api, settings=settings),
        infra_settings,
    )
    if settings.cors_origins:
        app.add_middleware(StreamCORS, origins=settings.cors_origins)
    return app
