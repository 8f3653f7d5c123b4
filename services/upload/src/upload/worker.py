"""The upload worker: job status from converter events, the outbox relay, retention."""

import asyncio

import structlog

from shared.bootstrap import Infra
from shared.http.ops import serve_ops
from shared.logging import configure_logging
from shared.runtime import every, serve_until_stopped
from shared.settings import InfraSettings
from shared.telemetry import configure_telemetry
from upload.app import upload_service
from upload.consumer import conversion_events
from upload.repository import JobRepository
from upload.settings import UploadSettings

log = structlog.get_logger()


async def run_worker(infra_settings: InfraSettings, settings: UploadSettings) -> None:
    infra = await Infra.open(infra_settings)
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    service = upload_service(infra, jobs)
    await service.relay.ensure_indexes()
    await serve_until_stopped(
        [conversion_events(infra, jobs, settings.prefetch)],
        [
            every(2.0, service.relay.sweep, "outbox"),
            every(settings.retention_sweep_seconds, service.purge_expired, "retention"),
            serve_ops(infra.checks(), settings.host, settings.ops_port),
        ],
        [infra.close],
    )


def main() -> None:
    infra_settings = InfraSettings()
    configure_logging("upload-worker", infra_settings)
    configure_telemetry("upload-worker")
    asyncio.run(run_worker(infra_settings, UploadSettings()))
