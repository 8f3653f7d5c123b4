"""``create_app()``: the boleto HTTP API. It never calls the bank: work goes to the worker."""

from functools import partial

from fastapi import FastAPI

from boleto_sync.admin_endpoints import reconciliation_router
from boleto_sync.admin_endpoints import router as admin_router
from boleto_sync.bootstrap import api
from boleto_sync.endpoints import router
from boleto_sync.settings import BoletoSettings
from shared.service import service_app
from shared.settings import InfraSettings


def create_app(
    infra_settings: InfraSettings | None = None, settings: BoletoSettings | None = None
) -> FastAPI:
    return service_app(
        "boleto-sync",
        "Banco Inter charges and boleto PDFs, within the bank's limits.",
        [router, admin_router, reconciliation_router],
        partial(api, settings=settings or BoletoSettings()),
        infra_settings,
    )
