"""The upload worker takes a ``conversion.completed`` event's result only from under its
job's own ``{tenant}/{job_id}/`` prefix: forged events go through the real broker."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from shared.bootstrap import Infra
from shared.events import ConversionCompleted, Manifest
from shared.messaging import OutboxRelay, encode
from upload import consumer
from upload.errors import ResultExpired
from upload.files import JobFiles
from upload.model import SOURCE
from upload.payment_repository import PaymentRepository
from upload.payments import Payments
from upload.repository import COLLECTION, JobRepository
from upload.settings import UploadSettings

VICTIM = "globex/cv_victim/result.xml"


@pytest.fixture
async def files(infra: Infra, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[JobFiles]:
    """The upload worker's subscription (on a queue of this test's own) and a victim object."""
    monkeypatch.setattr(consumer, "QUEUE", f"upload-trust-{uuid.uuid4().hex[:8]}")
    jobs = JobRepository(infra.db)
    job_files = JobFiles(infra.store, jobs, UploadSettings(), infra.sealer)
    writer = infra.store.writer(VICTIM)
    writer.write(b"<Project>another tenant's plan</Project>")
    await writer.commit()
    payments = Payments(
        PaymentRepository(infra.db),
        OutboxRelay(jobs.outbox, infra.broker),
        infra.store,
        infra.sealer,
    )
    subscription = consumer.conversion_events(infra, jobs, job_files, 8, payments)
    await subscription.start()
    try:
        yield job_files
    finally:
        await subscription.stop(grace_s=5)


async def _converting_job(infra: Infra) -> str:
    job_id = f"cv_{uuid.uuid4().hex}"
    job = {"_id": job_id, "tenant": "acme", "status": "converting", "options": {"target": "mspdi"}}
    await infra.db[COLLECTION].insert_one(job)
    return job_id


async def _forge(infra: Infra, job_id: str, result_key: str, source: str = "/forger") -> None:
    event = ConversionCompleted(
        tenant_id="acme",
        job_id=job_id,
        result_key=result_key,
        size=10,
        sha256="0" * 64,
        media_type="application/xml",
        manifest=Manifest(source_format="MPP", read={}, written={}),
    )
    await infra.broker.publish(encode(event, source))


async def _final(infra: Infra, job_id: str) -> dict[str, Any]:
    for _ in range(200):
        job = await infra.db[COLLECTION].find_one({"_id": job_id})
        if job is not None and job["status"] not in ("queued", "converting"):
            return job  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} was not updated")


@pytest.mark.parametrize(
    "key",
    [
        VICTIM,
        "acme/cv_someone_else/result.xml",
        "acme/{job}/../../globex/cv_victim/result.xml",
        "acme/{job}/nested/result.xml",
        "acme/{job}/",
        "/etc/passwd",
    ],
)
async def test_a_result_outside_the_job_fails_it_with_a_code(
    infra: Infra, files: JobFiles, key: str
) -> None:
    job_id = await _converting_job(infra)
    await _forge(infra, job_id, key.format(job=job_id))
    job = await _final(infra, job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "result_refused"
    assert "result" not in job
    assert await infra.store.size(VICTIM) > 0


async def test_the_job_s_own_result_is_still_taken(infra: Infra, files: JobFiles) -> None:
    job_id = await _converting_job(infra)
    await _forge(infra, job_id, f"acme/{job_id}/result.xml")
    job = await _final(infra, job_id)
    assert job["status"] == "completed" and job["result"]["key"] == f"acme/{job_id}/result.xml"


async def test_a_forged_result_of_a_deleted_job_deletes_nothing(
    infra: Infra, files: JobFiles
) -> None:
    """Before, the late result of a job no longer stored was deleted: any key named."""
    await _forge(infra, f"cv_{uuid.uuid4().hex}", VICTIM)
    live = await _converting_job(infra)  # the queue is in order: once this one is done...
    await _forge(infra, live, f"acme/{live}/result.xml")
    await _final(infra, live)
    assert await infra.store.size(VICTIM) > 0  # ...the forged one was handled before it


async def test_a_reuse_announced_by_the_upload_api_is_left_as_recorded(
    infra: Infra, files: JobFiles
) -> None:
    """A reuse: the upload API records the job completed with an earlier job's result and
    announces it; the worker leaves that job alone (no refusal, no failure), and the earlier
    result stays even when the reusing job was deleted meanwhile."""
    earlier = f"acme/cv_earlier_{uuid.uuid4().hex[:6]}/result.xml"
    writer = infra.store.writer(earlier)
    writer.write(b"<Project/>")
    await writer.commit()
    reusing = f"cv_{uuid.uuid4().hex}"
    done = {"_id": reusing, "tenant": "acme", "status": "completed", "result": {"key": earlier}}
    await infra.db[COLLECTION].insert_one(done)
    with capture_logs() as lines:
        await _forge(infra, reusing, earlier, source=SOURCE)
        await _forge(infra, f"cv_{uuid.uuid4().hex}", earlier, source=SOURCE)  # deleted since
        live = await _converting_job(infra)  # the queue is in order: once this one is done...
        await _forge(infra, live, f"acme/{live}/result.xml")
        await _final(infra, live)
    assert not [line for line in lines if line["event"] == "conversion.result_key_refused"]
    job = await infra.db[COLLECTION].find_one({"_id": reusing})
    assert job is not None and job["status"] == "completed" and "error" not in job
    assert await infra.store.size(earlier) > 0


async def test_a_stored_foreign_result_is_never_served(infra: Infra, files: JobFiles) -> None:
    job = {
        "_id": "cv_1",
        "tenant": "acme",
        "source": {"filename": "plan.mpp"},
        "options": {"target": "mspdi"},
        "result": {"key": VICTIM, "sha256": "0", "media_type": "application/xml"},
    }
    with pytest.raises(ResultExpired):
        await files.download(job)
    own = infra.store.writer("acme/cv_0/result.xml")  # an earlier job's result, reused
    own.write(b"<Project/>")
    await own.commit()
    download = await files.download({**job, "result": {**job["result"], "key": own.key}})
    assert b"".join([chunk async for chunk in download.chunks]) == b"<Project/>"
