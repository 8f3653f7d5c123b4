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
from upload.model import Upload
from upload.repository import COLLECTION, JobRepository
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
    await infra.db[COLLECTION].update_one(
        {"_id": job_id}, {"$set": {"expires_at": now() - timedelta(seconds=1)}}
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


async def test_expiry_of_a_job_keeps_a_result_another_job_reuses(
    infra: Infra, jobs: JobRepository, service: UploadService
) -> None:
    first = await _accepted(infra, service, "cv_first", b"same bytes")
    result_key = "acme/cv_first/result.xml"
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
    await jobs.transition_many(
        [(first["_id"], ["queued"], {"status": "completed", "result": result})]
    )
    second = await _accepted(infra, service, "cv_second", b"same bytes")
    assert second["status"] == "completed" and second["reused_from"] == "cv_first"
    await _expire(infra, "cv_first")
    assert await service.purge_expired() == 1
    assert await infra.store.size(result_key) == stored.size  # still served to cv_second
