"""``create_app()``: the upload HTTP API with a lifespan that opens and closes every client."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from shared.auth.endpoints import router as api_keys_router
from shared.bootstrap import Infra
from shared.http.app import attach_infra, build_app
from shared.logging import configure_logging
from shared.messaging import OutboxRelay
from shared.messaging.broadcast import Broadcast
from shared.settings import InfraSettings
from shared.telemetry import configure_telemetry
from upload.cache import CHANGES, JobCache
from upload.endpoints import router
from upload.repository import JobRepository
from upload.service import UploadService
from upload.settings import UploadSettings


def create_app(
    infra_settings: InfraSettings | None = None, settings: UploadSettings | None = None
) -> FastAPI:
    infra_settings = infra_settings or InfraSettings()
    settings = settings or UploadSettings()
    configure_logging("upload", infra_settings)
    configure_telemetry("upload")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        infra = await Infra.open(infra_settings)
        await attach_infra(app, infra)
        jobs = JobRepository(infra.db)
        await jobs.ensure_indexes()
        app.state.settings = settings
        app.state.jobs = jobs
        app.state.uploads = upload_service(infra, jobs)
        app.state.cache = JobCache()
        changes = Broadcast(infra.broker, CHANGES, app.state.cache.on_event)
        await changes.start()
        try:
            yield
        finally:
            await changes.stop()
            await infra.close()

    return build_app(
        "upload",
        "Upload schedule files and get Microsoft Project XML (and other formats) back.",
        lifespan,
        [router, api_keys_router],
    )


def upload_service(infra: Infra, jobs: JobRepository) -> UploadService:
    return UploadService(
        jobs,
        infra.store,
        OutboxRelay(jobs.outbox, infra.broker),
        timedelta(hours=infra.settings.retention_hours),
    )
