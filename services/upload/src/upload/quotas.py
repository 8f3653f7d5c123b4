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

from shared.tenants import TenantLimits
from upload.errors import Refused
from upload.quota_repository import QuotaRepository

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


class Limits(Protocol):
    async def limits(self, tenant: str) -> TenantLimits: ...


class UploadSlot:
    """One upload in progress; it may take one of its tenant's in-flight places for its job,
    given back if the upload then fails."""

    def __init__(self, quotas: "UploadQuotas", tenant: str) -> None:
        self._quotas = quotas
        self._tenant = tenant
        self.job_id: str | None = None

    async def take_job(self, job_id: str) -> None:
        await self._quotas.take_job(self._tenant, job_id)
        self.job_id = job_id


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
    async def uploading(self, tenant: str, key_id: str) -> AsyncIterator[UploadSlot]:
        """A slot of this process and of the key for one upload, given back on every way out
        (done, refused, failed, the client gone)."""
        if self.uploading_now >= self.max_uploads:
            raise _refused(ServerBusy("the server is busy with other uploads; retry shortly"))
        if (full := self._full.get(tenant)) and full[0] > time.monotonic():
            raise _refused(_too_many_jobs(full[1]))
        self.uploading_now += 1
        slot = UploadSlot(self, tenant)
        try:
            async with self._key_lease(tenant, key_id):
                try:
                    yield slot
                except BaseException:
                    if slot.job_id is not None:
                        await asyncio.shield(self._give_back(tenant, slot.job_id))
                    raise
        finally:
            self.uploading_now -= 1

    @contextlib.asynccontextmanager
    async def _key_lease(self, tenant: str, key_id: str) -> AsyncIterator[None]:
        limit = (await self.tenants.limits(tenant)).concurrent_uploads
        lease = secrets.token_hex(8)
        if not await self.places.take_lease(key_id, lease, limit, self.lease_s):
            raise _refused(
                TooManyUploads(
                    f"this API key has {limit} uploads in progress, its limit; "
                    "retry when one has finished",
                    limit=limit,
                )
            )
        renewing = asyncio.create_task(self._renew(key_id, lease))
        try:
            yield
        finally:
            renewing.cancel()
            await asyncio.shield(self._drop_lease(key_id, lease))

    async def _renew(self, key_id: str, lease: str) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 2)
            try:
                await self.places.renew_lease(key_id, lease, self.lease_s)
            except Exception:
                log.warning("upload_quota.lease_not_renewed", exc_info=True)

    async def _drop_lease(self, key_id: str, lease: str) -> None:
        """Best effort: a lease not dropped lapses after ``lease_s``."""
        try:
            await self.places.drop_lease(key_id, lease)
        except Exception:
            log.warning("upload_quota.lease_not_dropped", exc_info=True)

    async def take_job(self, tenant: str, job_id: str) -> None:
        """One of the tenant's in-flight places for a new job. The places of jobs that
        finished since are given back only when the tenant seems full: one read of its
        document and of its jobs then, none otherwise."""
        limit = (await self.tenants.limits(tenant)).jobs_in_flight
        if await self.places.take_job(tenant, job_id, limit):
            self._full.pop(tenant, None)
            return
        if finished := await self.places.finished_jobs(tenant):
            await self.places.drop_jobs(tenant, finished)
            if await self.places.take_job(tenant, job_id, limit):
                return
        self._full[tenant] = (time.monotonic() + FULL_RECHECK_S, limit)
        raise _refused(_too_many_jobs(limit))

    async def _give_back(self, tenant: str, job_id: str) -> None:
        try:
            await self.places.drop_jobs(tenant, [job_id])
        except Exception:  # found finished (never recorded) when the tenant is next full
            log.warning("upload_quota.job_place_not_given_back", exc_info=True)


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
