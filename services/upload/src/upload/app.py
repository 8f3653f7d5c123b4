"""``create_app()``: the upload HTTP API, built by the shared service skeleton."""

from functools import partial

from fastapi import FastAPI

from shared.admin.endpoints import router as queues_router
from shared.admin.tenants import router as tenants_router
from shared.auth.endpoints import router as api_keys_router
from shared.service import service_app
from shared.settings import InfraSettings
from upload import bootstrap
from upload.admin_endpoints import router as conversions_admin_router
from upload.endpoints import refused, router
from upload.errors import Refused
from upload.payment_endpoints import router as payments_router
from upload.settings import UploadSettings
from upload.web import add_page


def create_app(
    infra_settings: InfraSettings | None = None, settings: UploadSettings | None = None
) -> FastAPI:
    upload_settings = settings or UploadSettings()
    app = service_app(
        "upload",
        "Upload schedule files and get Microsoft Project XML (and other formats) back.",
        [
            router,
            payments_router,
            api_keys_router,
            queues_router,
            conversions_admin_router,
            tenants_router,
        ],
        partial(bootstrap.api, settings=upload_settings),
        infra_settings,
    )
    app.add_exception_handler(Refused, refused)
    add_page(app, upload_settings)
    return app
