"""The upload worker's outcome handler against real MongoDB and storage: a job deleted while
converting leaves no result behind, whatever else shares its batched write."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from shared.batching import Batcher
from shared.bootstrap import Infra
from shared.events import ConversionCompleted, Manifest
from shared.messaging import Delivery
from shared.storage import ObjectNotFound
from upload import handlers
from upload.files import JobFiles
from upload.repository import COLLECTION, JobRepository
from upload.settings import UploadSettings


async def _result(infra: Infra, job_id: str) -> ConversionCompleted:
    key = f"acme/{job_id}/result.xml"
    writer = infra.store.writer(key)
    writer.write(b"<Project/>")
    stored = await writer.commit()
    manifest = Manifest(source_format="MPP", read={}, written={})
    return ConversionCompleted(
        tenant_id="acme",
        job_id=job_id,
        result_key=key,
        size=stored.size,
        sha256=stored.sha256,
        media_type="application/xml",
        manifest=manifest,
    )


async def test_the_late_result_of_a_deleted_job_is_removed_and_the_others_kept(
    infra: Infra,
) -> None:
    jobs = JobRepository(infra.db)
    files = JobFiles(infra.store, jobs, UploadSettings(), infra.sealer)
    outcomes: handlers.Outcomes = Batcher(jobs.transition_many)
    live, deleted = f"cv_{uuid.uuid4().hex}", f"cv_{uuid.uuid4().hex}"
    await infra.db[COLLECTION].insert_one({"_id": live, "tenant": "acme", "status": "converting"})
    events = [await _result(infra, job_id) for job_id in (live, deleted)]
    delivery = Delivery("evt", 1, False, "/test", datetime.now(UTC))
    await asyncio.gather(  # one batched write for both
        *(handlers.conversion_completed(e, delivery, outcomes, files) for e in events)
    )
    job = await infra.db[COLLECTION].find_one({"_id": live})
    assert job is not None and job["status"] == "completed"
    assert await infra.store.size(events[0].result_key) == events[0].size
    with pytest.raises(ObjectNotFound):  # the deleted job's result
        await infra.store.size(events[1].result_key)
