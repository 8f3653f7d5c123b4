"""A job's read password at rest, against real storage, MongoDB, RabbitMQ and JVMs: stored
sealed to its job, opened only by the key and that job, refused once expired, and removed on
every way a job ends. The job fingerprint keys the password with a server key."""

import base64
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bootstrap import free_port
from pymongo.errors import DocumentTooLarge

from converter.bootstrap import WorkerDeps
from converter.handlers import conversion_dead, conversion_requested, record_outcome
from converter.metrics import JobLabels
from converter.pool import ConverterPool
from converter.repository import ConversionRecords
from shared.bootstrap import Infra
from shared.crypto import Sealer, UnreadableSecret, password_context
from shared.events import ConversionFailed, ConversionOptions, ConversionRequested
from shared.messaging import Delivery, OutboxRelay
from shared.settings import InfraSettings
from shared.storage import ObjectNotFound
from upload import bootstrap
from upload.model import FINGERPRINT_LABEL, Upload, fingerprint
from upload.service import UploadService
from upload.settings import UploadSettings

TENANT = "acme"
PASSWORD = "password"  # the read password of the protected fixture


@pytest.fixture
async def uploads(infra: Infra) -> AsyncIterator[UploadService]:
    async with bootstrap.api(infra, UploadSettings()) as deps:
        yield deps.uploads


@pytest.fixture
async def deps(infra: Infra, tmp_path: Path) -> AsyncIterator[WorkerDeps]:
    pool = ConverterPool(1, 256, 60, tmp_path / "work")
    await pool.start()
    records = ConversionRecords(infra.db, timedelta(hours=1))
    await records.ensure_indexes()
    relay = OutboxRelay(records.outbox, infra.broker)
    try:
        yield WorkerDeps(
            pool, infra.store, records, relay, infra.broker, tmp_path, 10**8, infra.sealer
        )
    finally:
        await pool.close()


@pytest.fixture
def protected(fixtures_dir: Path) -> Path:
    return fixtures_dir / "password" / "password-protected-mpp9.mpp"


async def _accepted(
    infra: Infra,
    uploads: UploadService,
    source: bytes,
    password: str = PASSWORD,
    filename: str = "plan.mpp",
) -> dict[str, Any]:
    job_id = f"cv_{uuid.uuid4().hex}"
    writer = infra.store.writer(f"{TENANT}/{job_id}/source")
    writer.write(source)
    stored = await writer.commit()
    upload = Upload(job_id, TENANT, filename, stored, "mpp", ConversionOptions(), password)
    return await uploads.accept(upload)


async def _read(infra: Infra, key: str) -> bytes:
    return b"".join([chunk async for chunk in infra.store.read(key)])


async def _gone(infra: Infra, key: str) -> bool:
    try:
        await infra.store.size(key)
    except ObjectNotFound:
        return True
    return False


def _request(job: dict[str, Any]) -> ConversionRequested:
    return ConversionRequested(
        tenant_id=job["tenant"],
        job_id=job["_id"],
        source_key=job["source"]["key"],
        source_sha256=job["source"]["sha256"],
        source_size=job["source"]["size"],
        filename=job["source"]["filename"],
        options=ConversionOptions(**job["options"]),
        password_key=job["password_key"],
        result_key=f"{job['tenant']}/{job['_id']}/result.json",
    )


def _delivery(attempt: int = 1) -> Delivery:
    return Delivery(f"evt-{uuid.uuid4().hex}", attempt, False, "/test", datetime.now(UTC))


async def _outcome(infra: Infra, job_id: str) -> dict[str, Any]:
    record = await infra.db["converter_records"].find_one({"_id": job_id})
    assert record is not None, "the converter recorded no outcome"
    return record["outcome"]  # type: ignore[no-any-return]


async def test_the_stored_password_is_sealed_to_its_job_and_key(
    infra: Infra, uploads: UploadService
) -> None:
    job = await _accepted(infra, uploads, b"a schedule", "s3cret-read-pw")
    other = await _accepted(infra, uploads, b"another schedule", "s3cret-read-pw")
    stored = await _read(infra, job["password_key"])
    assert b"s3cret-read-pw" not in stored
    assert infra.sealer.open(stored, password_context(TENANT, job["_id"])) == b"s3cret-read-pw"
    with pytest.raises(UnreadableSecret):  # copied next to another job, it does not open
        infra.sealer.open(stored, password_context(TENANT, other["_id"]))
    with pytest.raises(UnreadableSecret):
        Sealer(os.urandom(32)).open(stored, password_context(TENANT, job["_id"]))


async def test_the_password_is_gone_after_a_successful_conversion(
    infra: Infra, uploads: UploadService, deps: WorkerDeps, protected: Path
) -> None:
    job = await _accepted(infra, uploads, protected.read_bytes())
    await conversion_requested(_request(job), _delivery(), deps)
    assert "result_key" in await _outcome(infra, job["_id"])
    assert await _gone(infra, job["password_key"])


async def test_the_password_is_gone_after_a_failed_conversion(
    infra: Infra, uploads: UploadService, deps: WorkerDeps, protected: Path
) -> None:
    job = await _accepted(infra, uploads, protected.read_bytes(), "not-it")
    await conversion_requested(_request(job), _delivery(), deps)
    assert (await _outcome(infra, job["_id"]))["code"] == "password_protected"
    assert await _gone(infra, job["password_key"])


async def test_the_password_is_gone_after_the_request_is_dead_lettered(
    infra: Infra, uploads: UploadService, deps: WorkerDeps
) -> None:
    """Every attempt failed unexpectedly: the last one's dead-letter handler fails the job."""
    job = await _accepted(infra, uploads, b"any bytes")
    await conversion_dead(_request(job), "RuntimeError: unexpected", deps)
    assert (await _outcome(infra, job["_id"]))["code"] == "internal"
    assert await _gone(infra, job["password_key"])


async def test_a_retry_after_the_outcome_was_recorded_removes_the_password(
    infra: Infra, uploads: UploadService, deps: WorkerDeps
) -> None:
    """The attempt that recorded the outcome ended unexpectedly before removing the password:
    the retry finds the outcome and removes it."""
    job = await _accepted(infra, uploads, b"any bytes")
    failed = ConversionFailed(tenant_id=TENANT, job_id=job["_id"], code="timeout", message="m")
    await record_outcome(job["_id"], failed, deps, JobLabels("json"))
    assert not await _gone(infra, job["password_key"])
    await conversion_requested(_request(job), _delivery(attempt=2), deps)
    assert await _gone(infra, job["password_key"])


async def test_an_expired_password_is_refused_and_removed(
    infra: Infra, uploads: UploadService, deps: WorkerDeps, protected: Path
) -> None:
    uploads.files.settings = UploadSettings(password_ttl_s=0.001)
    job = await _accepted(infra, uploads, protected.read_bytes())
    await conversion_requested(_request(job), _delivery(), deps)
    outcome = await _outcome(infra, job["_id"])
    assert outcome["code"] == "internal" and "expired" in outcome["message"]
    assert await _gone(infra, job["password_key"])


async def test_the_password_is_gone_after_the_job_is_deleted(
    infra: Infra, uploads: UploadService
) -> None:
    job = await _accepted(infra, uploads, b"a schedule")
    await uploads.delete(TENANT, job["_id"])
    assert await _gone(infra, job["password_key"])


async def test_a_password_of_a_job_that_was_not_recorded_is_removed(
    infra: Infra, uploads: UploadService
) -> None:
    """The job's write fails (here: its document is over MongoDB's size limit): no job will
    ever point at the stored password, so it does not stay behind."""
    with pytest.raises(DocumentTooLarge):
        await _accepted(infra, uploads, b"a schedule", "left-behind?", "x" * 17_000_000)
    folder = infra.settings.storage_dir / TENANT
    assert not [p for p in folder.rglob("password-*")]


def _legacy_fingerprint(sha256: str, options: ConversionOptions, password: str) -> str:
    secret = hashlib.sha256(password.encode()).hexdigest()
    raw = f"{sha256}|{options.target}|{options.timephased}|{secret}"
    return hashlib.sha256(raw.encode()).hexdigest()


def test_the_fingerprint_keys_the_password_with_the_server_key() -> None:
    options, digest = ConversionOptions(), hashlib.sha256(b"file").hexdigest()
    keys = [Sealer(os.urandom(32)).derive(FINGERPRINT_LABEL) for _ in range(2)]
    prints = [fingerprint(digest, options, PASSWORD, key) for key in keys]
    assert prints[0] != prints[1]
    assert _legacy_fingerprint(digest, options, PASSWORD) not in prints
    assert fingerprint(digest, options, PASSWORD, keys[0]) == prints[0]
    assert fingerprint(digest, options, "other", keys[0]) != prints[0]


async def test_uploads_under_two_server_keys_fingerprint_one_file_and_password_apart(
    infra: Infra, infra_settings: InfraSettings
) -> None:
    prints = []
    for _ in range(2):
        key = base64.b64encode(os.urandom(32)).decode()
        keyed = replace(infra, settings=infra_settings.model_copy(update={"secrets_key": key}))
        async with bootstrap.api(keyed, UploadSettings()) as api:
            job = await _accepted(keyed, api.uploads, b"the same schedule")
        prints.append(job["fingerprint"])
    assert prints[0] != prints[1]


@pytest.mark.parametrize("command", [["upload", "worker"], ["notifier", "worker"], ["converter"]])
def test_production_without_a_key_does_not_start(
    command: list[str], infra_settings: InfraSettings, tmp_path: Path
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRETS_KEY", "DEV_API_KEY", "DEV_ADMIN_KEY"}
    }
    env.update(
        ENVIRONMENT="production",
        RABBITMQ_URL=infra_settings.rabbitmq_url,
        MONGODB_URL=infra_settings.mongodb_url,
        MONGODB_DB=infra_settings.mongodb_db,
        DATA_DIR=str(tmp_path),
        UPLOAD_OPS_PORT=str(free_port()),
        NOTIFIER_OPS_PORT=str(free_port()),
        CONVERTER_OPS_PORT=str(free_port()),
        CONVERTER_WORK_DIR=str(tmp_path / "work"),
        LOG_FORMAT="json",
    )
    started = subprocess.run(
        [sys.executable, "-m", *command], env=env, capture_output=True, text=True, timeout=120
    )
    assert started.returncode != 0
    assert "SECRETS_KEY is not set" in started.stdout + started.stderr
