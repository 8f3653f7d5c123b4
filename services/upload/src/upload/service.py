"""Decisions behind the API: what an upload becomes, what a user may read and delete, retention."""

from datetime import timedelta
from typing import Any

import structlog
from prometheus_client import Counter

from shared.caching import DocumentCache, Entry
from shared.clock import now
from shared.events import ConversionDeleted
from shared.logging import bind_ids
from shared.messaging import Broker, OutboxRelay, encode, outbox_entry
from shared.pagination import Cursor, Page
from shared.tenants import FREE, TenantPrice, TenantSettings
from upload.errors import (
    DuplicateJob,
    IdempotencyConflict,
    JobFailed,
    NotFound,
    NotReady,
    PaymentRequired,
    TooLarge,
)
from upload.files import JobFiles
from upload.model import (
    SOURCE,
    Download,
    Upload,
    fingerprint,
    job_document,
    new_job_id,
    request_event,
    reuse_event,
    safe_filename,
)
from upload.payment import first_charge, locked, new_payment, parse_payer, seal_payer
from upload.payments import Payments
from upload.quotas import UploadQuotas, UploadSlot
from upload.receive import FormBody
from upload.repository import JobRepository
from upload.schemas import payment_view
from upload.settings import UploadSettings

log = structlog.get_logger()
FORM_OVERHEAD = 64 * 1024  # what a multipart body holds besides the file, at the most
# how often an upload tries to take a file's claim from dead ends before converting without it
CLAIM_ATTEMPTS = 3
ACCEPTED = Counter(
    "conversion_jobs_accepted_total",
    "Conversion jobs accepted (reused: an identical earlier result served)",
    ["format", "target", "reused"],
)


class UploadService:
    def __init__(
        self,
        jobs: JobRepository,
        files: JobFiles,
        broker: Broker,
        relay: OutboxRelay,
        settings: UploadSettings,
        retention: timedelta,
        cache: DocumentCache | None = None,
        quotas: UploadQuotas | None = None,
        tenants: TenantSettings | None = None,
        payments: Payments | None = None,
    ) -> None:
        self.quotas = quotas
        self.tenants = tenants
        self.payments = payments
        self.jobs = jobs
        self.files = files
        self.broker = broker
        self.relay = relay
        self.settings = settings
        self.retention = retention
        self.cache = cache

    async def create(
        self, tenant: str, idempotency_key: str | None, body: FormBody, *, key_id: str
    ) -> dict[str, Any]:
        """Store the upload and accept it; a known Idempotency-Key returns its job unread."""
        limit = self.settings.max_upload_bytes
        if body.declared_size is not None and body.declared_size > limit + FORM_OVERHEAD:
            raise TooLarge(f"the upload exceeds the limit of {limit} bytes")
        job_id = new_job_id(tenant, idempotency_key)
        bind_ids(job_id=job_id)
        if idempotency_key and (existing := await self.jobs.get(tenant, job_id)):
            return existing
        assert self.quotas is not None, "uploads are taken by the API, which keeps quotas"
        async with self.quotas.uploading(tenant, key_id, job_id) as slot:
            form = await self.files.receive(tenant, job_id, body)
            try:
                name = safe_filename(form.filename)
                options = form.options()
                payer = await self._payer(tenant, form.fields.get("payer"))
                upload = Upload(
                    job_id, tenant, name, form.source, form.format, options, form.password, payer
                )
                return await self.accept(upload, slot)
            except BaseException:
                await self.files.discard_source(form.source.key)
                raise

    async def _price(self, tenant: str) -> TenantPrice:
        return await self.tenants.price(tenant) if self.tenants is not None else FREE

    async def _payer(self, tenant: str, given: str | None) -> dict[str, Any] | None:
        """The form's payer, checked; a free tenant's is ignored."""
        if given is None or (await self._price(tenant)).free:
            return None
        return parse_payer(given)

    async def accept(self, upload: Upload, slot: UploadSlot | None = None) -> dict[str, Any]:
        """Record the job with its events in one write, then publish. Returns the job document.

        An identical earlier upload of the tenant whose result is still stored gives its result:
        the job is recorded completed at once, and a paying tenant's charge is requested in
        the same write when the payer came with the upload. Otherwise the job is a conversion,
        and holds the file's claim (identical uploads take its result) unless another job does.
        """
        key = self.files.fingerprint_key
        job_print = fingerprint(upload.source.sha256, upload.options, upload.password, key)
        job = job_document(upload, job_print, now(), self.retention)
        price = await self._price(upload.tenant)
        if paid := not price.free:
            job["payment"] = new_payment(price)
            if upload.payer is not None:
                job["payer"] = seal_payer(
                    self.files.sealer, upload.tenant, upload.job_id, upload.payer
                )
        prior = await self._still_stored(self.jobs.remembered_prior(upload.tenant, job_print))
        try:
            if prior is None:
                entries, prior = await self._insert_conversion(job, upload, paid)
            if prior is not None:
                entries = self._as_reuse(job, prior, upload, paid)
                await self.jobs.insert({**job, "outbox": entries})
        except DuplicateJob:  # a racing request with the same Idempotency-Key won
            await self.files.discard_inputs(job)
            return await self._existing(upload)
        if prior is None and slot is not None:  # a conversion to come: it keeps its place
            slot.keep_place()
        if self.cache is not None:  # the client's next look at its job needs no read
            self.cache.seed(upload.job_id, self.jobs.as_read(job))
        ACCEPTED.labels(upload.format, upload.options.target, str(bool(prior)).lower()).inc()
        log.info(
            "conversion.accepted",
            job_id=upload.job_id,
            reused=bool(prior),
            paid=paid,
            size=upload.source.size,
            target=upload.options.target,
        )
        await self.relay.flush_or_defer(upload.job_id, entries)
        return job

    async def _insert_conversion(
        self, job: dict[str, Any], upload: Upload, paid: bool
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Insert the job as a conversion, with its outbox entries; or, when the job holding
        the file's claim turns out completed with its result stored, insert nothing and
        return that job instead (the earlier job, or None)."""
        job["password_key"] = await self.files.store_password(upload)
        entries = [outbox_entry(encode(request_event(upload, job["password_key"], paid), SOURCE))]
        try:
            prior = await self._claim(job, entries)
        except DuplicateJob:  # the caller discards the inputs
            raise
        except BaseException:  # not recorded: nothing would ever read or remove the password
            await self.files.discard_password(job)
            raise
        if prior is not None:
            await self.files.discard_password(job)
            del job["password_key"]
        return entries, prior

    async def _claim(
        self, job: dict[str, Any], entries: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The conversion job inserted holding the file's claim, or without it while another
        job holds it in flight; a dead end (failed, expired, its result gone) gives the claim
        up to this job. None when inserted, else the completed job to take the result of."""
        recorded = {**job, "outbox": entries}
        for _ in range(CLAIM_ATTEMPTS):
            holder = await self.jobs.insert_claiming(recorded)
            if holder is None:
                return None
            if holder.in_flight:
                break
            if prior := await self._still_stored(holder.prior):
                return prior
            await self.jobs.release(job["tenant"], job["fingerprint"], holder)
        await self.jobs.insert(recorded)  # converts without the claim
        return None

    def _as_reuse(
        self, job: dict[str, Any], prior: dict[str, Any], upload: Upload, paid: bool
    ) -> list[dict[str, Any]]:
        """The job completed with ``prior``'s result; its outbox entries."""
        job.update(status="completed", result=prior["result"], reused_from=prior["_id"])
        job["source"]["format"] = prior["source"]["format"]
        entries = [outbox_entry(encode(reuse_event(upload, prior["result"], paid), SOURCE))]
        if paid and upload.payer is not None:
            entries.append(first_charge(job, upload.payer, now().date()))
        return entries

    async def _still_stored(self, prior: dict[str, Any] | None) -> dict[str, Any] | None:
        if prior is None:
            return None
        if not await self.files.still_stored(prior["result"]):
            log.warning("conversion.reuse_skipped_result_missing", prior=prior["_id"])
            return None
        return prior

    async def _existing(self, upload: Upload) -> dict[str, Any]:
        existing = await self.jobs.get(upload.tenant, upload.job_id)
        if existing is None or existing["source"]["sha256"] != upload.source.sha256:
            raise IdempotencyConflict("this Idempotency-Key was used with a different file")
        return existing

    async def get(self, tenant: str, job_id: str) -> dict[str, Any]:
        if self.cache is not None:
            return (await self.view(tenant, job_id)).doc
        return await self._stored(tenant, job_id)

    async def view(self, tenant: str, job_id: str) -> Entry:
        """The job rendered, from the replica's cache (the API's read path)."""
        assert self.cache is not None, "views are served by the API, which keeps a cache"
        return self._owned(tenant, job_id, await self.cache.get(job_id))

    async def changed(self, tenant: str, job_id: str, etag: str, wait_s: float) -> Entry:
        """The job once its representation differs from ``etag``, or after ``wait_s``."""
        assert self.cache is not None, "long polls are served by the API, which keeps a cache"
        self._owned(tenant, job_id, await self.cache.get(job_id))
        return self._owned(tenant, job_id, await self.cache.changed(job_id, etag, wait_s))

    @staticmethod
    def _owned(tenant: str, job_id: str, entry: Entry | None) -> Entry:
        if entry is None or entry.doc["tenant"] != tenant:
            raise NotFound(f"no conversion {job_id}")
        return entry

    async def page(self, tenant: str, status: str | None, limit: int, after: Cursor | None) -> Page:
        limit = min(limit, self.settings.list_max_limit)
        return Page.of(await self.jobs.page(tenant, status, limit + 1, after), limit)

    async def download(self, tenant: str, job_id: str) -> Download:
        job = await self.get(tenant, job_id)
        if self.cache is not None and (job["status"] != "completed" or locked(job)):
            # this replica's copy may lag another's, which the client has just read completed
            # (or paid): before refusing, the stored job decides (one read, on refusals only)
            job = await self._stored(tenant, job_id)
        if job["status"] == "failed":
            error = job.get("error") or {}
            code = error.get("code", "internal")
            raise JobFailed(code, error.get("message", "the conversion failed"))
        if job["status"] != "completed":
            raise NotReady(
                f"the conversion is {job['status']}; poll the job until completed",
                job_status=job["status"],
            )
        if locked(job):
            raise PaymentRequired(
                "the result is released once the conversion's charge is paid",
                payment=payment_view(job).model_dump(mode="json"),
            )
        return await self.files.download(job)

    async def _stored(self, tenant: str, job_id: str) -> dict[str, Any]:
        job = await self.jobs.by_id(job_id)
        if job is None or job["tenant"] != tenant:
            raise NotFound(f"no conversion {job_id}")
        return job

    async def set_payer(self, tenant: str, job_id: str, payer: dict[str, Any]) -> dict[str, Any]:
        assert self.payments is not None, "payers are given through the API"
        job = await self.payments.set_payer(tenant, job_id, payer)
        if self.cache is not None:  # the client's next look shows its payment requested
            self.cache.seed(job_id, job)
        return job

    async def delete(self, tenant: str, job_id: str) -> None:
        job = await self.jobs.delete(tenant, job_id)
        if self.cache is not None:
            self.cache.forget(job_id)
        if job is None:
            raise NotFound(f"no conversion {job_id}")
        await self.files.remove(job)
        await self._announce_deleted(job)

    async def purge_expired(self) -> int:
        expired = await self.jobs.expired()
        for job in expired:
            await self.files.remove(job)
            await self.jobs.remove(job["_id"])
            await self._announce_deleted(job)
        if expired:
            log.info("retention.purged", jobs=len(expired))
        return len(expired)

    async def _announce_deleted(self, job: dict[str, Any]) -> None:
        """Best effort: replicas forget cached copies (which expire anyway), subscribers learn."""
        event = ConversionDeleted(tenant_id=job["tenant"], job_id=job["_id"])
        try:
            await self.broker.publish(encode(event, SOURCE))
        except Exception:
            log.warning("conversion.deletion_not_announced", job_id=job["_id"], exc_info=True)
