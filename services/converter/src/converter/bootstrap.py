"""Wires the converter worker: the warm JVM pool, its records, relay and subscriber."""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from converter.archive import ArchiveLimits
from converter.consumer import conversion_requests
from converter.pool import ConverterPool
from converter.repository import ConversionRecords
from converter.settings import STARTED_AFTER_S, ConverterSettings
from shared.bootstrap import Infra
from shared.crypto import Sealer
from shared.messaging import HOT_PATH_CLEAR_S, Broker, OutboxRelay
from shared.service import Worker
from shared.storage import ObjectStore


@dataclass
class WorkerDeps:
    pool: ConverterPool
    store: ObjectStore
    records: ConversionRecords
    relay: OutboxRelay
    broker: Broker
    work_dir: Path
    max_source_bytes: int
    sealer: Sealer  # opens the jobs' sealed read passwords
    started_after_s: float = STARTED_AFTER_S  # conversion.started once a JVM had it this long


async def worker(infra: Infra, settings: ConverterSettings) -> Worker:
    sealer = infra.sealer  # first: without its key in production, no JVM is started in vain
    work_dir = Path(settings.work_dir)
    pool = ConverterPool(
        settings.workers,
        settings.jvm_heap_mb,
        settings.job_timeout_s,
        work_dir,
        nice=settings.jvm_nice,
        jvm_options=settings.jvm_options.split(),
        max_crashes=settings.max_crashes,
        disk_budget_bytes=settings.job_disk_bytes,
        archive_limits=ArchiveLimits(settings.archive_max_entries, settings.archive_max_bytes),
    )
    await pool.start()
    records = ConversionRecords(infra.db, timedelta(hours=infra.settings.retention_hours))
    await records.ensure_indexes()
    relay = OutboxRelay(records.outbox, infra.broker, clear_every_s=HOT_PATH_CLEAR_S)
    deps = WorkerDeps(
        pool,
        infra.store,
        records,
        relay,
        infra.broker,
        work_dir,
        settings.max_source_bytes,
        sealer,
        settings.started_after_s,
    )

    return Worker(
        [conversion_requests(infra, deps, settings.prefetch or 2 * settings.workers)],
        relays=[relay],
        checks={"jvm": lambda: pool.serving},
        closers=[pool.close],
    )
