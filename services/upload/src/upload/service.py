"""Decisions of the upload service: what a new upload becomes, deletion and retention."""

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Any

import structlog
from pymongo.errors import DuplicateKeyError

from shared.events import (
    ConversionCompleted,
    ConversionDeleted,
    ConversionOptions,
    ConversionRequested,
    Event,
)
from shared.formats import extension
from shared.messaging import OutboxRelay, encode, outbox_entry
from shared.storage import ObjectNotFound, ObjectStore, StoredObject
from upload.repository import JobRepository, now

log = structlog.get_logger()
SOURCE = "/services/upload"


@dataclass(frozen=True)
class Upload:
    """What arrived: the stored source plus the form's options."""

    job_id: str
    tenant: str
    filename: str
    source: StoredObject
    format: str
    options: ConversionOptions
    password: str | None = field(default=None, repr=False)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different file or options."""


def new_job_id(tenant: str, idempotency_key: str | None) -> str:
    if idempotency_key:
        digest = hashlib.sha256(f"{tenant}\0{idempotency_key}".encode()).hexdigest()
        return f"cv_{digest[:32]}"
    return f"cv_{secrets.token_hex(16)}"


def source_key(tenant: str, job_id: str) -> str:
    # a fresh token per upload: racing requests with one Idempotency-Key never share an object
    return f"{tenant}/{job_id}/source-{secrets.token_hex(4)}"


def safe_filename(name: str | None) -> str:
    base = PurePath((name or "").replace("\\", "/")).name.strip()
    return "".join(ch for ch in base if ch.isprintable())[:200] or "upload"


def fingerprint(sha256: str, options: ConversionOptions, password: str | None) -> str:
    secret = hashlib.sha256(password.encode()).hexdigest() if password else ""
    raw = f"{sha256}|{options.target}|{options.timephased}|{secret}"
    return hashlib.sha256(raw.encode()).hexdigest()


class UploadService:
    def __init__(
        self, jobs: JobRepository, store: ObjectStore, relay: OutboxRelay, retention: timedelta
    ) -> None:
        self.jobs = jobs
        self.store = store
        self.relay = relay
        self.retention = retention

    async def accept(self, upload: Upload) -> dict[str, Any]:
        """Record the job with its event in one write, then publish. Returns the job document."""
        job_print = fingerprint(upload.source.sha256, upload.options, upload.password)
        prior = await self._reusable(upload.tenant, job_print)
        job = _job_document(upload, job_print, now(), self.retention)
        if prior:
            job.update(status="completed", result=prior["result"], reused_from=prior["_id"])
            job["source"]["format"] = prior["source"]["format"]
            event: Event = _reuse_event(upload, prior["result"])
        else:
            job["password_key"] = await self._store_password(upload)
            event = _request_event(upload, job["password_key"])
        entry = outbox_entry(encode(event, SOURCE))
        try:
            await self.jobs.insert({**job, "outbox": [entry]})
        except DuplicateKeyError:  # a racing request with the same Idempotency-Key won
            await self._discard_inputs(job)
            return await self._existing(upload)
        log.info(
            "conversion.accepted",
            job_id=upload.job_id,
            reused=bool(prior),
            size=upload.source.size,
            target=upload.options.target,
        )
        await self._publish(upload.job_id, entry)
        return job

    async def _store_password(self, upload: Upload) -> str | None:
        """The read password travels as an object reference, never inside an event."""
        if not upload.password:
            return None
        writer = self.store.writer(
            f"{upload.tenant}/{upload.job_id}/password-{secrets.token_hex(4)}"
        )
        writer.write(upload.password.encode())
        return (await writer.commit()).key

    async def _reusable(self, tenant: str, job_print: str) -> dict[str, Any] | None:
        prior = await self.jobs.find_reusable(tenant, job_print)
        if prior is None:
            return None
        try:
            await self.store.size(prior["result"]["key"])
        except ObjectNotFound:
            log.warning("conversion.reuse_skipped_result_missing", prior=prior["_id"])
            return None
        return prior

    async def _existing(self, upload: Upload) -> dict[str, Any]:
        existing = await self.jobs.get(upload.tenant, upload.job_id)
        if existing is None or existing["source"]["sha256"] != upload.source.sha256:
            raise IdempotencyConflict(upload.job_id)
        return existing

    async def _publish(self, job_id: str, entry: dict[str, Any]) -> None:
        try:
            await self.relay.flush(job_id, [entry])
        except Exception:
            # the job and its event are stored together; the outbox sweeper publishes it later
            log.warning("conversion.publish_deferred", job_id=job_id, exc_info=True)

    async def delete(self, tenant: str, job_id: str) -> bool:
        job = await self.jobs.delete(tenant, job_id)
        if job is None:
            return False
        await self.remove_objects(job)
        await self._announce_deleted(job)
        return True

    async def _announce_deleted(self, job: dict[str, Any]) -> None:
        """Best effort: replicas forget cached copies (which expire anyway), subscribers learn."""
        event = ConversionDeleted(tenant_id=job["tenant"], job_id=job["_id"])
        try:
            await self.relay.broker.publish(encode(event, SOURCE))
        except Exception:
            log.warning("conversion.deletion_not_announced", job_id=job["_id"], exc_info=True)

    async def _discard_inputs(self, job: dict[str, Any]) -> None:
        await self.store.delete(job["source"]["key"])
        if job.get("password_key"):
            await self.store.delete(job["password_key"])

    async def remove_objects(self, job: dict[str, Any]) -> None:
        await self._discard_inputs(job)
        result_key = (job.get("result") or {}).get("key")
        if not result_key:
            result_key = (
                f"{job['tenant']}/{job['_id']}/result.{extension(job['options']['target'])}"
            )
        if not await self.jobs.other_references(result_key, job["_id"]):
            await self.store.delete(result_key)

    async def purge_expired(self) -> int:
        expired = await self.jobs.expired()
        for job in expired:
            await self.remove_objects(job)
            await self.jobs.remove(job["_id"])
            await self._announce_deleted(job)
        if expired:
            log.info("retention.purged", jobs=len(expired))
        return len(expired)


def _job_document(
    upload: Upload, job_print: str, created: datetime, retention: timedelta
) -> dict[str, Any]:
    return {
        "_id": upload.job_id,
        "status": "queued",
        "tenant": upload.tenant,
        "created_at": created,
        "updated_at": created,
        "expires_at": created + retention,
        "purge_at": created + retention + timedelta(hours=1),
        "options": upload.options.model_dump(),
        "fingerprint": job_print,
        "source": {
            "filename": upload.filename,
            "size": upload.source.size,
            "sha256": upload.source.sha256,
            "format": upload.format,
            "key": upload.source.key,
        },
        "result": None,
        "error": None,
    }


def _reuse_event(upload: Upload, result: dict[str, Any]) -> ConversionCompleted:
    return ConversionCompleted(
        tenant_id=upload.tenant,
        job_id=upload.job_id,
        result_key=result["key"],
        size=result["size"],
        sha256=result["sha256"],
        media_type=result["media_type"],
        manifest=result["manifest"],
    )


def _request_event(upload: Upload, password_key: str | None) -> ConversionRequested:
    return ConversionRequested(
        tenant_id=upload.tenant,
        job_id=upload.job_id,
        source_key=upload.source.key,
        source_sha256=upload.source.sha256,
        source_size=upload.source.size,
        filename=upload.filename,
        options=upload.options,
        password_key=password_key,
        result_key=f"{upload.tenant}/{upload.job_id}/result.{extension(upload.options.target)}",
    )
