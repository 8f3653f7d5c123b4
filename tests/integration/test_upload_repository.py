"""Upload's queries against the real database: what each one reads."""

import uuid
from datetime import timedelta

from shared.bootstrap import Infra
from shared.clock import now
from shared.pagination import NEWEST_FIRST
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


async def test_a_page_of_the_list_reads_only_the_tenants_jobs_through_its_index(
    infra: Infra,
) -> None:
    """``GET /v1/conversions``: the index matches the filter and the sort. MongoDB walks it in
    order and reads one page; SecantusDB 8.2.11 (what runs here) reads every job of the tenant
    through the index, then sorts them (measured: 300 of 300, with or without a hint), so
    here the cost grows with the tenant's history but never with other tenants'."""
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    start = now()

    def history(tenant: str) -> list[dict[str, object]]:
        return [
            {
                "_id": f"cv_{tenant}{i:04d}{uuid.uuid4().hex[:8]}",
                "tenant": tenant,
                "status": "completed" if i % 3 else "failed",
                "created_at": start - timedelta(seconds=i),
            }
            for i in range(150)
        ]

    mine = history("lister")
    await infra.db[COLLECTION].insert_many([*mine, *history("neighbour")])

    for status in (None, "failed"):
        query: dict[str, object] = {"tenant": "lister", **({"status": status} if status else {})}
        plan = await infra.db[COLLECTION].find(query).sort(NEWEST_FIRST).limit(21).explain()
        examined = plan["executionStats"]["totalDocsExamined"]
        assert examined <= sum(1 for d in mine if not status or d["status"] == status), plan
        assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"])
        page = await jobs.page("lister", status, 21, None)
        expected = [d for d in mine if not status or d["status"] == status][:21]
        assert [d["_id"] for d in page] == [d["_id"] for d in expected]
