"""Retention: expired jobs lose their files and records together; shared results survive."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.bootstrap import Infra
from shared.clock import now
from shared.events import ConversionOptions
from upload import bootstrap
from upload.model import PURGE_GRACE, Upload
from upload.repository import COLLECTION, JobRepository, expired_at
from upload.service import UploadService
from upload.settings import UploadSettings


@pytest.fixture
def jobs(infra: Infra) -> JobRepository:
    return JobRepository(infra.db)


@pytest.fixture
async def service(infra: Infra) -> AsyncIterator[UploadService]:
    async with bootstrap.api(infra, UploadSettings()) as deps:
        yield deps.uploads


async def _accepted(infra: Infra, service: UploadService, job_id: str, content: bytes) -> Any:
    writer = infra.store.writer(f"acme/{job_id}/source")
    writer.write(content)
    source = await writer.commit()
    return await service.accept(
        Upload(job_id, "acme", "plan.mpp", source, "mpp", ConversionOptions(), password="pw")
    )


async def _expire(infra: Infra, job_id: str) -> None:
    expired = now() - timedelta(seconds=1)
    await infra.db[COLLECTION].update_one(
        {"_id": job_id}, {"$set": {"expires_at": expired, "purge_at": expired + PURGE_GRACE}}
    )


async def test_purge_removes_expired_jobs_with_their_objects(
    infra: Infra, jobs: JobRepository, service: UploadService, tmp_path: Path
) -> None:
    old = await _accepted(infra, service, "cv_old", b"old schedule")
    fresh = await _accepted(infra, service, "cv_fresh", b"fresh schedule")
    await _expire(infra, "cv_old")
    assert old["password_key"] and (await infra.store.size(old["password_key"])) > 0

    assert await service.purge_expired() == 1
    assert await jobs.get("acme", "cv_old") is None
    assert await jobs.get("acme", "cv_fresh") is not None
    root = infra.settings.storage_dir / "acme"
    assert not (root / "cv_old").exists() or not any((root / "cv_old").iterdir())
    assert (root / "cv_fresh" / "source").exists()
    assert fresh["status"] == "queued"


async def test_expired_jobs_are_found_through_the_ttl_index_alone(
    infra: Infra, jobs: JobRepository
) -> None:
    """The sweeper's query reads the expired jobs only, however many are retained (the job
    collection has no index on ``expires_at``: every write would pay for it)."""
    await jobs.ensure_indexes()
    start = now()
    retained = [
        {"_id": f"cv_{i}", "tenant": "acme", "expires_at": start + timedelta(hours=i % 24 + 1)}
        for i in range(60)
    ]
    expired = [{"_id": f"cv_old{i}", "expires_at": start - timedelta(minutes=i)} for i in range(3)]
    await infra.db[COLLECTION].insert_many(
        [{**job, "purge_at": job["expires_at"] + PURGE_GRACE} for job in [*retained, *expired]]
    )

    plan = await infra.db[COLLECTION].find(expired_at(now())).explain()
    assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"]), plan
    assert plan["executionStats"]["totalDocsExamined"] == len(expired)
    assert sorted(job["_id"] for job in await jobs.expired()) == sorted(j["_id"] for j in expired)
    indexes = await infra.db[COLLECTION].index_information()
    assert not [name for name, spec in indexes.items() if spec["key"] == [("expires_at", 1)]]


async def _completed(infra: Infra, jobs: JobRepository, job_id: str) -> str:
    """The job completed with a result of its own; the result's key."""
    result_key = f"acme/{job_id}/result.xml"
    writer = infra.store.writer(result_key)
    writer.write(b"<Project/>")
    stored = await writer.commit()
    manifest = {"source_format": "mpp", "read": {}, "written": {}, "warnings": []}
    result = {
        "key": result_key,
        "size": stored.size,
        "sha256": stored.sha256,
        "media_type": "application/xml",
        "manifest": manifest,
    }
    await jobs.transition_many([(job_id, ["queued"], {"status": "completed", "result": result})])
    return result_key


async def test_expiry_of_a_job_keeps_a_result_another_job_reuses(
    infra: Infra, jobs: JobRepository, service: UploadService
) -> None:
    await _accepted(infra, service, "cv_first", b"same bytes")
    result_key = await _completed(infra, jobs, "cv_first")
    size = await infra.store.size(result_key)
    second = await _accepted(infra, service, "cv_second", b"same bytes")
    assert second["status"] == "completed" and second["reused_from"] == "cv_first"
    await _expire(infra, "cv_first")
    assert await service.purge_expired() == 1
    assert await infra.store.size(result_key) == size  # still served to cv_second


async def test_a_file_whose_result_went_converts_again_and_is_reused_from_then_on(
    infra: Infra, jobs: JobRepository, service: UploadService
) -> None:
    """The job holding the file's claim lost its result (an operator emptied the bucket): the
    next upload converts and takes the claim over; the one after takes the new result."""
    await _accepted(infra, service, "cv_first", b"same bytes")
    await infra.store.delete(await _completed(infra, jobs, "cv_first"))
    again = await _accepted(infra, service, "cv_again", b"same bytes")
    assert again["status"] == "queued" and "reused_from" not in again
    await _completed(infra, jobs, "cv_again")
    async with bootstrap.api(infra, UploadSettings()) as other_process:
        third = await _accepted(infra, other_process.uploads, "cv_third", b"same bytes")
    assert third["status"] == "completed" and third["reused_from"] == "cv_again"


async def test_a_failed_file_converts_again_when_uploaded_again(
    infra: Infra, jobs: JobRepository, service: UploadService
) -> None:
    await _accepted(infra, service, "cv_first", b"same bytes")
    failed = {"status": "failed", "error": {"code": "internal", "message": "x"}}
    await jobs.transition_many([("cv_first", ["queued"], failed)])
    again = await _accepted(infra, service, "cv_again", b"same bytes")
    assert again["status"] == "queued"
    await _completed(infra, jobs, "cv_again")
    reused = await _accepted(infra, service, "cv_reused", b"same bytes")
    assert reused["status"] == "completed" and reused["reused_from"] == "cv_again"
