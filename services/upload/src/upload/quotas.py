"""Quotas on uploads: uploads at once per API process and per API key, conversions in flight
per tenant.

Every S3 upload spools up to ``max_upload_bytes`` to a temporary file before it is sent, so
the uploads one process takes at once are capped by what its spool volume holds (``503
server_busy``); the uploads of one API key at once (``429 too_many_uploads``) and a tenant's
conversions queued or converting (``429 too_many_jobs``) are capped across every replica,
through ``QuotaRepository``.
"""

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from typing import Protocol

import structlog
from prometheus_client import Counter

from shared.cancellation import raise_lost_cancel
from shared.tenants import TenantLimits
from upload.errors import Refused
from upload.quota_repository import Lease, QuotaRepository

log = structlog.get_logger()
REFUSED = Counter("upload_quota_refusals_total", "Uploads refused by a quota", ["code"])
# a tenant found at its jobs in flight is refused from memory this long, before its body is
# read: however hard it retries, it costs each process one look at its jobs per period
FULL_RECHECK_S = 1.0


class QuotaExceeded(Refused):
    """A refusal worth retrying later: answered with ``Retry-After``."""

    retry_after_s = 5


class ServerBusy(QuotaExceeded):
    code = "server_busy"
    retry_after_s = 2


class TooManyUploads(QuotaExceeded):
    code = "too_many_uploads"


class TooManyJobs(QuotaExceeded):
    code = "too_many_jobs"
    retry_after_s = 30


for _refusal in (ServerBusy, TooManyUploads, TooManyJobs):
    REFUSED.labels(_refusal.code)  # exported at 0 from the start, as a rate needs


class Limits(Protocol):
    async def limits(self, tenant: str) -> TenantLimits: ...


class UploadSlot:
    """One upload in progress. It holds a place among its tenant's conversions in flight,
    given back when it ends unless ``keep_place()`` said that its job will convert."""

    def __init__(self) -> None:
        self.keeps_place = False

    def keep_place(self) -> None:
        self.keeps_place = True


class UploadQuotas:
    def __init__(
        self, places: QuotaRepository, tenants: Limits, max_uploads: int, lease_s: float
    ) -> None:
        """``lease_s``: how long a key's upload slot outlives its process (a crash); a slot is
        renewed every ``lease_s / 2`` while its upload runs."""
        self.places = places
        self.tenants = tenants
        self.max_uploads = max_uploads
        self.lease_s = lease_s
        self.uploading_now = 0
        self._full: dict[str, tuple[float, int]] = {}  # tenant: (until, its limit)

    @contextlib.asynccontextmanager
    async def uploading(self, tenant: str, key_id: str, job_id: str) -> AsyncIterator[UploadSlot]:
        """A slot of this process, of the key and of the tenant's jobs in flight for one
        upload: one write to take them, one to give them back on every way out (done,
        refused, failed, the client gone)."""
        if self.uploading_now >= self.max_uploads:
            raise _refused(ServerBusy("the server is busy with other uploads; retry shortly"))
        if (full := self._full.get(tenant)) and full[0] > time.monotonic():
            raise _refused(_too_many_jobs(full[1]))
        self.uploading_now += 1
        try:
            if (await self.tenants.limits(tenant)).uploads_unlimited:
                yield UploadSlot()  # no quota to hold: no lease, no place, no write
                return
            lease = Lease(secrets.token_hex(8), key_id, job_id)
            await self._take(tenant, lease)
            slot = UploadSlot()
            renewing = asyncio.create_task(self._renew(tenant, lease))
            try:
                yield slot
            except BaseException:
                slot.keeps_place = False  # the job was not recorded
                raise
            finally:
                renewing.cancel()
                await asyncio.shield(self._release(tenant, lease, slot.keeps_place))
        finally:
            self.uploading_now -= 1

    async def _take(self, tenant: str, lease: Lease) -> None:
        """The places of jobs that finished since are given back only when the tenant seems
        full: one read of its document and one of its jobs then, none otherwise."""
        limits = await self.tenants.limits(tenant)
        key_limit, jobs_limit = limits.concurrent_uploads, limits.jobs_in_flight
        for attempt in range(2):
            if await self.places.take(tenant, lease, key_limit, jobs_limit, self.lease_s):
                self._full.pop(tenant, None)
                return
            held = await self.places.held(tenant, lease.key, time.time() * 1000)
            if held.key_uploads >= key_limit:
                raise _refused(_too_many_uploads(key_limit))
            if attempt:
                break
            pending = [job for job in held.places if job not in held.uploading_jobs]
            finished = set(pending) - await self.places.active(pending) if pending else set()
            if not finished:
                break
            await self.places.drop_places(tenant, sorted(finished))
        self._full[tenant] = (time.monotonic() + FULL_RECHECK_S, jobs_limit)
        raise _refused(_too_many_jobs(jobs_limit))

    async def _renew(self, tenant: str, lease: Lease) -> None:
        while True:
            raise_lost_cancel()
            await asyncio.sleep(self.lease_s / 2)
            try:
                await self.places.renew(tenant, lease, self.lease_s)
            except Exception:
                log.warning("upload_quota.lease_not_renewed", exc_info=True)

    async def _release(self, tenant: str, lease: Lease, keep_place: bool) -> None:
        """Best effort: a lease not dropped lapses after ``lease_s``; a place not given back
        is found finished (its job never recorded) when the tenant next looks full."""
        try:
            await self.places.release(tenant, lease, keep_place)
        except Exception:
            log.warning("upload_quota.not_released", exc_info=True)


def _too_many_uploads(limit: int) -> TooManyUploads:
    return TooManyUploads(
        f"this API key has {limit} uploads in progress, its limit; retry when one has finished",
        limit=limit,
    )


def _too_many_jobs(limit: int) -> TooManyJobs:
    return TooManyJobs(
        f"this tenant has {limit} conversions queued or converting, its limit; "
        "retry when one has finished",
        limit=limit,
    )


def _refused(exc: QuotaExceeded) -> QuotaExceeded:
    REFUSED.labels(exc.code).inc()
    log.info("upload_quota.refused", code=exc.code)
    return exc


def max_uploads_of(spool_bytes: int, upload_bytes: int, processes: int) -> int:
    """Uploads one process may spool at once: 80 % of the spool volume (the rest for other
    temporary files) shared by the API's processes, each upload at its largest."""
    return max(1, int(spool_bytes * 0.8) // (upload_bytes * processes))
