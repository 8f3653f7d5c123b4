"""Builds the upload service's parts from the open infrastructure, for the api and the worker."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from shared import queues
from shared.admin.queues import BeforeReplay
from shared.bootstrap import Infra
from shared.messaging import HOT_PATH_CLEAR_S, OutboxRelay
from shared.messaging.broadcast import Broadcast
from shared.messaging.notices import Recorded, announce_recorded, recorded_key
from shared.runtime import every
from shared.service import Worker
from upload.admin import ConversionsAdmin
from upload.admin_repository import JobAdminRepository
from upload.cache import job_cache
from upload.consumer import conversion_events
from upload.files import JobFiles
from upload.payment_repository import PaymentRepository
from upload.payments import Payments
from upload.quota_repository import QuotaRepository
from upload.quotas import UploadQuotas, max_uploads_of
from upload.repository import COLLECTION, JobRepository
from upload.service import FORM_OVERHEAD, UploadService
from upload.settings import UploadSettings

REQUEST_ABANDONED_AFTER = timedelta(seconds=90)
DEFERRED_RETRY_S = 1.0  # how soon after the broker is back the API publishes what it deferred
# how long a published request waits before the API clears it: by then the job's first status
# change (written by the worker, which pulls the request along) has usually come, and the
# API's own write finds nothing to change. Well under REQUEST_ABANDONED_AFTER.
REQUEST_CLEAR_AFTER_S = 5.0


@dataclass(frozen=True)
class ApiDeps:
    uploads: UploadService
    conversions_admin: ConversionsAdmin
    # what a replay of a queue's dead letters undoes first (shared.admin.endpoints)
    before_replay: dict[str, BeforeReplay]
    payments: Payments


@asynccontextmanager
async def api(infra: Infra, settings: UploadSettings) -> AsyncIterator[ApiDeps]:
    """The API's service, with a job cache that every replica keeps fresh from the events."""
    if infra.settings.environment == "production" and settings.sandbox_bank_url:
        raise ValueError("UPLOAD_SANDBOX_BANK_URL is refused when ENVIRONMENT=production")
    jobs = await _repository(infra)
    cache = job_cache(jobs.by_id)
    # each upload's request is cleared REQUEST_CLEAR_AFTER_S after its publication, unless
    # the job's first status change cleared it already, with the others due within 250 ms
    relay = OutboxRelay(
        jobs.outbox,
        infra.broker,
        clear_every_s=HOT_PATH_CLEAR_S,
        clear_after_s=REQUEST_CLEAR_AFTER_S,
    )
    payments = Payments(
        PaymentRepository(infra.db, partial(announce_recorded, infra.broker, COLLECTION)),
        relay,
        infra.store,
        infra.sealer,
        sandbox_bank_url=settings.sandbox_bank_url,
    )
    uploads = UploadService(
        jobs,
        JobFiles(infra.store, jobs, settings, infra.sealer),
        infra.broker,
        relay,
        settings,
        _retention(infra),
        cache,
        _quotas(infra, settings),
        infra.tenants,
        payments,
    )
    payments.find_job = uploads.get
    changes = Broadcast(
        infra.broker,
        cache.routing_keys,
        cache.on_event,
        on_gap=cache.clear,
        notices={recorded_key(COLLECTION): cache.on_recorded_notice},
    )
    await changes.start()
    admin = ConversionsAdmin(
        JobAdminRepository(infra.db), partial(announce_recorded, infra.broker, COLLECTION)
    )
    retrying = asyncio.create_task(every(DEFERRED_RETRY_S, relay.retry_deferred, "outbox"))
    try:
        yield ApiDeps(uploads, admin, {queues.CONVERSION_REQUESTS: admin.before_replay}, payments)
    finally:
        retrying.cancel()
        await changes.stop()
        await relay.drain()


async def worker(infra: Infra, settings: UploadSettings) -> Worker:
    """Job status from the converter's events, the jobs' outbox, retention. Each status
    change written is told to the API replicas (a notice), whose caches apply it."""
    jobs = await _repository(infra, partial(announce_recorded, infra.broker, COLLECTION))
    files = JobFiles(infra.store, jobs, settings, infra.sealer)
    # the API publishes a job's request within the upload's request, which under a flood of
    # uploads takes tens of seconds, and clears it up to 250 ms later: sweeping it sooner
    # would send it twice
    relay = OutboxRelay(jobs.outbox, infra.broker, abandoned_after=REQUEST_ABANDONED_AFTER)
    uploads = UploadService(jobs, files, infra.broker, relay, settings, _retention(infra))
    payments = Payments(
        PaymentRepository(infra.db, partial(announce_recorded, infra.broker, COLLECTION)),
        relay,
        infra.store,
        infra.sealer,
    )
    return Worker(
        [conversion_events(infra, jobs, files, settings.prefetch, payments)],
        relays=[relay],
        loops=[every(settings.retention_sweep_seconds, uploads.purge_expired, "retention")],
    )


async def _repository(
    infra: Infra, on_recorded: Callable[[Recorded], Awaitable[None]] | None = None
) -> JobRepository:
    jobs = JobRepository(infra.db, on_recorded)
    await jobs.ensure_indexes()
    return jobs


def _quotas(infra: Infra, settings: UploadSettings) -> UploadQuotas:
    largest = settings.max_upload_bytes + FORM_OVERHEAD
    derived = max_uploads_of(settings.spool_volume_bytes, largest, settings.api_processes)
    max_uploads = settings.max_concurrent_uploads or derived
    return UploadQuotas(QuotaRepository(infra.db), infra.tenants, max_uploads, settings.key_lease_s)


def _retention(infra: Infra) -> timedelta:
    return timedelta(hours=infra.settings.retention_hours)
