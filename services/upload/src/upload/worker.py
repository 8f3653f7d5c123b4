"""The upload worker: job status from converter events, the outbox relay, retention."""

import asyncio

import structlog
from shared.bootstrap import Infra
from shared.http.ops import serve_ops
from shared.logging import configure_logging
from shared.runtime import until_stopped
from shared.settings import InfraSettings
from shared.telemetry import configure_telemetry

from upload.app import upload_service
from upload.consumer import conversion_events
from upload.repository import JobRepository
from upload.service import UploadService
from upload.settings import UploadSettings

log = structlog.get_logger()


async def run_worker(infra_settings: InfraSettings, settings: UploadSettings) -> None:
    infra = await Infra.open(infra_settings)
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    service = upload_service(infra, jobs)
    await service.relay.ensure_indexes()
    subscription = conversion_events(infra, jobs, settings.prefetch)
    await subscription.start()
    tasks = [
        asyncio.create_task(service.relay.run()),
        asyncio.create_task(_retention(service, settings.retention_sweep_seconds)),
        asyncio.create_task(serve_ops(infra.checks(), settings.host, settings.ops_port)),
    ]
    log.info("upload.worker.started")
    try:
        await until_stopped()
    finally:
        await subscription.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await infra.close()
        log.info("upload.worker.stopped")


async def _retention(service: UploadService, interval: float) -> None:
    while True:
        try:
            await service.purge_expired()
        except Exception:
            log.exception("retention.failed")
        await asyncio.sleep(interval)


def main() -> None:
    infra_settings = InfraSettings()
    configure_logging("upload-worker", infra_settings)
    configure_telemetry("upload-worker")
    asyncio.run(run_worker(infra_settings, UploadSettings()))
