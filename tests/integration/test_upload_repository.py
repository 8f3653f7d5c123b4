"""Upload's queries against the real database: what each one reads."""

import asyncio
import uuid
from datetime import timedelta

from shared.bootstrap import Infra
from shared.clock import now
from shared.messaging.notices import READ_AGAIN, Recorded, encode_recorded, parse_recorded
from shared.pagination import NEWEST_FIRST
from upload.repository import (
    COLLECTION,
    REUSE_COLLECTION,
    JobRepository,
    ReuseLookup,
    reuse_id,
)


def _job(status: str, fingerprint: str, expires_in: timedelta = timedelta(hours=24)) -> dict:
    return {
        "_id": f"cv_{uuid.uuid4().hex}",
        "tenant": "acme",
        "fingerprint": fingerprint,
        "status": status,
        "expires_at": now() + expires_in,
        "result": {"key": "k"} if status == "completed" else None,
        "source": {"format": "mpp"},
    }


async def lookup(jobs: JobRepository, fingerprint: str, tenant: str = "acme") -> ReuseLookup:
    """The look-up of a new upload (a job of its own, not inserted) with ``fingerprint``."""
    return await jobs.reuse_lookup(
        tenant, fingerprint, f"cv_{uuid.uuid4().hex}", now() + timedelta(hours=24)
    )


async def test_the_reuse_lookup_reads_two_documents_however_many_jobs_share_the_file(
    infra: Infra,
) -> None:
    """It runs on every upload: a flood of one file made 3,000 jobs with one fingerprint,
    and a query on the fingerprint read every one of them (300 ms each on SecantusDB)."""
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    same = [_job("completed", "same") for _ in range(300)]
    await infra.db[COLLECTION].insert_many(same)
    await jobs.point_reuse_at(same[7])

    found = await lookup(jobs, "same")
    assert found.prior is not None and found.prior["_id"] == same[7]["_id"]
    assert not found.point_here
    pointer = infra.db[REUSE_COLLECTION].find({"_id": reuse_id("acme", "same")})
    assert (await pointer.explain())["executionStats"]["totalDocsExamined"] == 1
    target = infra.db[COLLECTION].find({"_id": same[7]["_id"]})
    assert (await target.explain())["executionStats"]["totalDocsExamined"] == 1
    assert (await lookup(jobs, "same", tenant="other-tenant")).prior is None


async def test_a_new_file_costs_one_write_and_its_job_becomes_the_target(infra: Infra) -> None:
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    first = _job("queued", "new")
    unseen = await jobs.reuse_lookup("acme", "new", first["_id"], first["expires_at"])
    assert unseen.prior is None and not unseen.point_here  # pointed already
    pointer = await infra.db[REUSE_COLLECTION].find_one({"_id": reuse_id("acme", "new")})
    assert pointer is not None and pointer["job"] == first["_id"]

    await infra.db[COLLECTION].insert_one(first)
    second = await lookup(jobs, "new")  # the first still converting: it stays the target
    assert second.prior is None and not second.point_here
    completed = {"status": "completed", "result": {"key": "k"}}
    await infra.db[COLLECTION].update_one({"_id": first["_id"]}, {"$set": completed})
    found = await lookup(jobs, "new")
    assert found.prior is not None and found.prior["_id"] == first["_id"]


async def test_a_completed_job_found_is_kept_a_while_then_asked_for_again(infra: Infra) -> None:
    jobs, uncached = JobRepository(infra.db), JobRepository(infra.db, reuse_cache_s=0)
    done = _job("completed", "known")
    await infra.db[COLLECTION].insert_one(done)
    await jobs.point_reuse_at(done)
    assert (await lookup(jobs, "known")).prior is not None
    await infra.db[COLLECTION].delete_one({"_id": done["_id"]})  # unseen by this process
    cached = await lookup(jobs, "known")  # no read: a flood of one file reads it once
    assert cached.prior is not None and cached.prior["_id"] == done["_id"]
    assert (await lookup(uncached, "known")).point_here  # a process that keeps nothing reads

    replaced = _job("completed", "known")
    await infra.db[COLLECTION].insert_one(replaced)
    await jobs.point_reuse_at(replaced)  # what this process points elsewhere, it forgets
    moved = await lookup(jobs, "known")
    assert moved.prior is not None and moved.prior["_id"] == replaced["_id"]


async def test_uploads_of_one_new_file_at_once_share_one_claim_and_move_nothing(
    infra: Infra,
) -> None:
    """A flood of one new file: one insert makes the pointer; the others learn it from that
    claim, and its job, not inserted yet, is taken for in flight, not for a dead end."""
    jobs = JobRepository(infra.db)
    ids = [f"cv_{uuid.uuid4().hex}" for _ in range(20)]
    expires = now() + timedelta(hours=24)
    found = await asyncio.gather(*(jobs.reuse_lookup("acme", "n", i, expires) for i in ids))
    assert all(f.prior is None and not f.point_here for f in found)
    pointer = await infra.db[REUSE_COLLECTION].find_one({"_id": reuse_id("acme", "n")})
    assert pointer is not None and pointer["job"] in ids


async def test_the_reuse_pointer_stays_on_a_job_in_flight_and_moves_off_a_dead_end(
    infra: Infra,
) -> None:
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    queued, failed, expired = (
        _job("queued", "f"),
        _job("failed", "g"),
        _job("completed", "h", expires_in=-timedelta(seconds=1)),
    )
    await infra.db[COLLECTION].insert_many([queued, failed, expired])
    for job in (queued, failed, expired):
        await jobs.point_reuse_at(job)

    in_flight = await lookup(jobs, "f")
    assert in_flight.prior is None and not in_flight.point_here  # it will be the one to reuse
    for dead_end in ("g", "h"):
        found = await lookup(jobs, dead_end)
        assert found.prior is None and found.point_here
    await infra.db[COLLECTION].delete_one({"_id": queued["_id"]})  # deleted by its user
    assert not (await lookup(jobs, "f")).point_here  # as good as a job being inserted, yet
    an_hour_ago = now() - timedelta(hours=1)
    await infra.db[REUSE_COLLECTION].update_one(
        {"_id": reuse_id("acme", "f")}, {"$set": {"at": an_hour_ago}}
    )
    assert (await lookup(JobRepository(infra.db), "f")).point_here  # a dead end once old


async def test_a_transition_applies_only_from_the_states_given(infra: Infra) -> None:
    jobs = JobRepository(infra.db)
    await infra.db[COLLECTION].insert_one({"_id": "cv_1", "tenant": "acme", "status": "queued"})

    await infra.db[COLLECTION].insert_one({"_id": "cv_2", "tenant": "acme", "status": "queued"})

    assert await jobs.transition_many([("cv_1", ["queued"], {"status": "converting"})]) == set()
    late_replay = ("cv_1", ["queued"], {"status": "failed"})
    changes = [late_replay, ("cv_2", ["queued"], {"status": "x"})]
    assert await jobs.transition_many(changes) == set()  # a replay: the job is still there
    gone = ("cv_gone", ["queued"], {"status": "converting"})
    assert await jobs.transition_many([gone, ("cv_2", ["x"], {"status": "y"})]) == {"cv_gone"}
    statuses = {d["_id"]: d["status"] async for d in infra.db[COLLECTION].find({})}
    assert statuses == {"cv_1": "converting", "cv_2": "y"}  # each change applied on its own


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


async def test_jobs_that_started_together_are_marked_converting_in_one_update(
    infra: Infra,
) -> None:
    jobs = JobRepository(infra.db)
    queued, also_queued, completed = (
        _job("queued", "a"),
        _job("queued", "b"),
        _job("completed", "c"),
    )
    await infra.db[COLLECTION].insert_many([queued, also_queued, completed])

    await jobs.mark_converting([queued["_id"], also_queued["_id"], completed["_id"], "cv_gone"])

    statuses = {d["_id"]: d["status"] async for d in infra.db[COLLECTION].find({})}
    assert statuses == {
        queued["_id"]: "converting",
        also_queued["_id"]: "converting",
        completed["_id"]: "completed",  # a late start never undoes an outcome
    }


async def test_a_noticed_change_applied_to_the_job_as_read_gives_the_job_as_written(
    infra: Infra,
) -> None:
    """What the API replicas do with the worker's notices instead of reading the job again."""
    noticed: list[Recorded] = []

    async def hear(recorded: Recorded) -> None:
        noticed.append(recorded)

    jobs = JobRepository(infra.db, on_recorded=hear)
    job = {**_job("queued", "n"), "source": {"format": None, "size": 5}, "error": None}
    await infra.db[COLLECTION].insert_one(job)
    before = await jobs.by_id(job["_id"])
    await jobs.mark_converting([job["_id"]])
    await jobs.transition_many(
        [(job["_id"], ["queued", "converting"], {"status": "failed", "source.format": "MPP"})]
    )
    written = await jobs.by_id(job["_id"])
    assert before is not None and written is not None and len(noticed) == 2
    applied = before
    for recorded in noticed:
        change = parse_recorded(encode_recorded(recorded))[job["_id"]]  # as sent
        applied = change.applied_to(applied) or applied
    assert applied == written


async def test_a_job_twice_in_one_batch_is_noticed_for_a_read(infra: Infra) -> None:
    """The database applies the two updates in an order nobody knows: a replica must read."""
    noticed: list[Recorded] = []

    async def hear(recorded: Recorded) -> None:
        noticed.append(recorded)

    jobs = JobRepository(infra.db, on_recorded=hear)
    twice, once = _job("converting", "t"), _job("converting", "o")
    await infra.db[COLLECTION].insert_many([twice, once])
    active = ["queued", "converting"]
    await jobs.transition_many(
        [
            (twice["_id"], active, {"status": "completed"}),
            (once["_id"], active, {"status": "failed"}),
            (twice["_id"], active, {"status": "completed"}),
        ]
    )
    assert noticed[0][twice["_id"]] == READ_AGAIN
    assert noticed[0][once["_id"]].fields["status"] == "failed"
    stored = await jobs.by_id(twice["_id"])
    assert stored is not None and READ_AGAIN.applied_to(stored) is None
    assert stored["status"] == "completed"
