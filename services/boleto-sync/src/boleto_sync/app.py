"""``create_app()``: the boleto HTTP API. It never calls the bank: work goes to the worker."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from boleto_sync.bootstrap import boleto_service
from boleto_sync.endpoints import router
from boleto_sync.settings import BoletoSettings
from shared.bootstrap import Infra
from shared.http.app import attach_infra, build_app
from shared.logging import configure_logging
from shared.settings import InfraSettings
from shared.telemetry import configure_telemetry


def create_app(
    infra_settings: InfraSettings | None = None, settings: BoletoSettings | None = None
) -> FastAPI:
    infra_settings = infra_settings or InfraSettings()
    settings = settings or BoletoSettings()
    configure_logging("boleto-sync", infra_settings)
    configure_telemetry("boleto-sync")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        infra = await Infra.open(infra_settings)
        await attach_infra(app, infra)
        service = boleto_service(infra, settings)
        await service.repo.ensure_indexes()
        await service.relay.ensure_indexes()
        app.state.boletos = service
        app.state.webhook_token = settings.webhook_token
        try:
            yield
        finally:
            await infra.close()

    return build_app(
        "boleto-sync",
        "Banco Inter charges and boleto PDFs, within the bank's limits.",
        lifespan,
        [router],
    )
