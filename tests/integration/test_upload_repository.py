"""Upload's queries against the real database: what each one reads."""

import uuid
from datetime import timedelta

from shared.bootstrap import Infra
from shared.clock import now
from upload.repository import COLLECTION, JobRepository, reusable_filter


async def test_the_reuse_lookup_reads_no_job_of_the_tenants_history(infra: Infra) -> None:
    """It runs on every upload: its cost must not grow with the jobs a tenant already has."""
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    history = [
        {
            "_id": f"cv_{uuid.uuid4().hex}",
            "tenant": "acme",
            "fingerprint": uuid.uuid4().hex,
            "status": "completed",
            "expires_at": now() + timedelta(hours=24),
            "result": {"key": "k"},
        }
        for _ in range(300)
    ]
    await infra.db[COLLECTION].insert_many(history)
    again = history[7]

    plan = await infra.db[COLLECTION].find(reusable_filter("acme", "unseen")).explain()
    assert plan["executionStats"]["totalDocsExamined"] == 0
    plan = await infra.db[COLLECTION].find(reusable_filter("acme", again["fingerprint"])).explain()
    assert plan["executionStats"]["totalDocsExamined"] == 1
    prior = await jobs.reusable("acme", again["fingerprint"])
    assert prior is not None and prior["_id"] == again["_id"]


async def test_a_transition_applies_only_from_the_states_given(infra: Infra) -> None:
    jobs = JobRepository(infra.db)
    await infra.db[COLLECTION].insert_one({"_id": "cv_1", "tenant": "acme", "status": "queued"})

    assert await jobs.transition("cv_1", ["queued"], {"status": "converting"})
    assert not await jobs.transition("cv_1", ["queued"], {"status": "failed"})  # a late replay
    assert not await jobs.transition("cv_gone", ["queued"], {"status": "converting"})
    job = await infra.db[COLLECTION].find_one({"_id": "cv_1"})
    assert job is not None and job["status"] == "converting" and job["updated_at"]
