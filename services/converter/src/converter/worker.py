"""The converter worker process: warm JVM pool, subscriber, outbox relay, ops endpoints."""

import asyncio
from datetime import timedelta
from pathlib import Path

import structlog

from converter.consumer import conversion_requests
from converter.handlers import ConverterDeps
from converter.pool import ConverterPool
from converter.repository import ConversionRecords
from converter.settings import ConverterSettings
from shared.bootstrap import Infra
from shared.http.ops import serve_ops
from shared.logging import configure_logging
from shared.messaging import OutboxRelay
from shared.runtime import every, serve_until_stopped
from shared.settings import InfraSettings
from shared.telemetry import configure_telemetry

log = structlog.get_logger()


async def run_worker(infra_settings: InfraSettings, settings: ConverterSettings) -> None:
    work_dir = Path(settings.work_dir)
    pool = ConverterPool(settings.workers, settings.jvm_heap_mb, settings.job_timeout_s, work_dir)
    infra = await Infra.open(infra_settings)
    await pool.start()
    records = ConversionRecords(infra.db, timedelta(hours=infra_settings.retention_hours))
    await records.ensure_indexes()
    relay = OutboxRelay(records.records, infra.broker)
    await relay.ensure_indexes()
    deps = ConverterDeps(
        pool, infra.store, records, relay, infra.broker, work_dir, settings.max_source_bytes
    )
    subscription = conversion_requests(
        infra.broker,
        deps,
        settings.prefetch or 2 * settings.workers,
        infra_settings.max_delivery_attempts,
        infra_settings.retry_base_delay_ms,
    )

    async def jvm_warm() -> bool:
        return pool.warm > 0

    checks = {**infra.checks(), "jvm": jvm_warm}
    await serve_until_stopped(
        [subscription],
        [every(2.0, relay.sweep, "outbox"), serve_ops(checks, settings.host, settings.ops_port)],
        [pool.close, infra.close],
    )


def main() -> None:
    infra_settings = InfraSettings()
    configure_logging("converter", infra_settings)
    configure_telemetry("converter")
    asyncio.run(run_worker(infra_settings, ConverterSettings()))
