"""The objects a job owns in the store: its source, its read password and its result.

A job that reuses another's result points at the same object, so a result is deleted only
once no other job references it.
"""

from datetime import timedelta
from typing import Any

import structlog

from shared.crypto import Sealer, password_context
from shared.storage import ObjectNotFound, ObjectStore
from upload.errors import ResultExpired
from upload.model import (
    FINGERPRINT_LABEL,
    Download,
    Upload,
    download_name,
    password_key,
    result_key,
    source_key,
)
from upload.receive import FormBody, ReceivedForm, receive_form
from upload.repository import JobRepository
from upload.settings import UploadSettings

log = structlog.get_logger()


def owned_by_job(key: str, tenant: str, job_id: str) -> bool:
    """Whether ``key`` names one object directly under the job's ``{tenant}/{job_id}/``."""
    name = key.removeprefix(f"{tenant}/{job_id}/")
    return name != key and _plain_name(name)


def _owned_by_tenant(key: str, tenant: str) -> bool:
    # a reused result lives under the earlier job of the same tenant
    job_id, _, name = key.removeprefix(f"{tenant}/").partition("/")
    return key.startswith(f"{tenant}/") and _plain_name(job_id) and _plain_name(name)


def _plain_name(name: str) -> bool:
    return name not in ("", ".", "..") and not any(c in name for c in "/\\\0")


class JobFiles:
    def __init__(
        self, store: ObjectStore, jobs: JobRepository, settings: UploadSettings, sealer: Sealer
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.settings = settings
        self.sealer = sealer
        self.fingerprint_key = sealer.derive(FINGERPRINT_LABEL)

    async def receive(self, tenant: str, job_id: str, body: FormBody) -> ReceivedForm:
        key = source_key(tenant, job_id)
        limits = self.settings.max_upload_bytes, self.settings.max_field_bytes
        return await receive_form(body, self.store, key, *limits)

    async def store_password(self, upload: Upload) -> str | None:
        """The read password travels as an object reference, never inside an event, and rests
        sealed to its job with an expiry (shared.crypto)."""
        if not upload.password:
            return None
        context = password_context(upload.tenant, upload.job_id)
        ttl = timedelta(seconds=self.settings.password_ttl_s)
        writer = self.store.writer(password_key(upload.tenant, upload.job_id))
        writer.write(self.sealer.seal(upload.password.encode(), context, ttl))
        return (await writer.commit()).key

    async def still_stored(self, result: dict[str, Any]) -> bool:
        try:
            await self.store.size(result["key"])
        except ObjectNotFound:
            return False
        return True

    async def download(self, job: dict[str, Any]) -> Download:
        result = job["result"]
        if not _owned_by_tenant(result["key"], job.get("tenant", "")):
            log.error("conversion.foreign_result_not_served", job_id=job["_id"])
            raise ResultExpired("the result is no longer stored")
        try:
            size = await self.store.size(result["key"])
        except ObjectNotFound:
            raise ResultExpired("the result is no longer stored") from None
        chunks = self.store.read(result["key"])
        return Download(download_name(job), size, result["sha256"], result["media_type"], chunks)

    async def discard_source(self, key: str) -> None:
        await self.store.delete(key)

    async def discard_inputs(self, job: dict[str, Any]) -> None:
        await self.store.delete(job["source"]["key"])
        await self.discard_password(job)

    async def discard_password(self, job: dict[str, Any]) -> None:
        if job.get("password_key"):
            await self.store.delete(job["password_key"])

    async def remove(self, job: dict[str, Any]) -> None:
        """Every object of a deleted or expired job, its result unless another job reuses it."""
        await self.discard_inputs(job)
        key = (job.get("result") or {}).get("key")
        target = job["options"]["target"]
        await self.remove_result(key or result_key(job["tenant"], job["_id"], target), job["_id"])

    async def remove_result(self, key: str, job_id: str) -> None:
        if not await self.jobs.other_references(key, job_id):
            await self.store.delete(key)
