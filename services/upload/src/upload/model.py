"""A conversion job: its id, its stored document, its objects and the events it implies."""

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Any

from shared.events import ConversionCompleted, ConversionOptions, ConversionRequested
from shared.formats import TargetFormat, extension
from shared.storage import StoredObject

ACTIVE = ["queued", "converting"]
SOURCE = "/services/upload"  # the CloudEvents source of what the upload service announces
FINGERPRINT_LABEL = "job-fingerprint"  # names the key derived for fingerprints


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
    payer: dict[str, Any] | None = field(default=None, repr=False)  # personal data: never shown


@dataclass(frozen=True)
class Download:
    """A job's result as a user downloads it."""

    filename: str
    size: int
    sha256: str
    media_type: str
    chunks: AsyncIterator[bytes]


def new_job_id(tenant: str, idempotency_key: str | None) -> str:
    if idempotency_key:
        digest = hashlib.sha256(f"{tenant}\0{idempotency_key}".encode()).hexdigest()
        return f"cv_{digest[:32]}"
    return f"cv_{secrets.token_hex(16)}"


def source_key(tenant: str, job_id: str) -> str:
    # a fresh token per upload: racing requests with one Idempotency-Key never share an object
    return f"{tenant}/{job_id}/source-{secrets.token_hex(4)}"


def password_key(tenant: str, job_id: str) -> str:
    return f"{tenant}/{job_id}/password-{secrets.token_hex(4)}"


def result_key(tenant: str, job_id: str, target: TargetFormat) -> str:
    return f"{tenant}/{job_id}/result.{extension(target)}"


def safe_filename(name: str | None) -> str:
    base = PurePath((name or "").replace("\\", "/")).name.strip()
    return "".join(ch for ch in base if ch.isprintable())[:200] or "upload"


def download_name(job: dict[str, Any]) -> str:
    stem = PurePath(job["source"]["filename"]).stem or "result"
    return f"{stem}.{extension(job['options']['target'])}"


def fingerprint(sha256: str, options: ConversionOptions, password: str | None, key: bytes) -> str:
    """What identical conversions share. The password enters as an HMAC under a server key, so
    a stored fingerprint does not let anyone test guesses of it offline."""
    secret = hmac.new(key, password.encode(), hashlib.sha256).hexdigest() if password else ""
    raw = f"{sha256}|{options.target}|{options.timephased}|{secret}"
    return hashlib.sha256(raw.encode()).hexdigest()


# how long after its expiry a job the retention sweeper missed is removed by the TTL index; the
# sweeper finds expired jobs through that index too, which is always this far ahead
PURGE_GRACE = timedelta(hours=1)


def job_document(
    upload: Upload, job_print: str, created: datetime, retention: timedelta
) -> dict[str, Any]:
    return {
        "_id": upload.job_id,
        "status": "queued",
        "tenant": upload.tenant,
        "created_at": created,
        "updated_at": created,
        "expires_at": created + retention,
        "purge_at": created + retention + PURGE_GRACE,
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


def result_document(event: ConversionCompleted) -> dict[str, Any]:
    return {
        "key": event.result_key,
        "size": event.size,
        "sha256": event.sha256,
        "media_type": event.media_type,
        "manifest": event.manifest.model_dump(),
    }


def reuse_event(
    upload: Upload, result: dict[str, Any], payment_required: bool = False
) -> ConversionCompleted:
    return ConversionCompleted(
        payment_required=payment_required,
        tenant_id=upload.tenant,
        job_id=upload.job_id,
        result_key=result["key"],
        size=result["size"],
        sha256=result["sha256"],
        media_type=result["media_type"],
        manifest=result["manifest"],
    )


def request_event(
    upload: Upload, password_key: str | None, payment_required: bool = False
) -> ConversionRequested:
    return ConversionRequested(
        payment_required=payment_required,
        tenant_id=upload.tenant,
        job_id=upload.job_id,
        source_key=upload.source.key,
        source_sha256=upload.source.sha256,
        source_size=upload.source.size,
        filename=upload.filename,
        options=upload.options,
        password_key=password_key,
        result_key=result_key(upload.tenant, upload.job_id, upload.options.target),
    )
