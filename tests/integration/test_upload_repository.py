"""Upload's queries against the real database: what each one reads."""

import asyncio
import uuid
from datetime import timedelta

import pytest

from shared.bootstrap import Infra
from shared.clock import now
from shared.events import ConversionOptions, ConversionRequested
from shared.memory import release_free_memory
from shared.messaging import encode, outbox_entry
from shared.messaging.notices import READ_AGAIN, Recorded, encode_recorded, parse_recorded
from shared.pagination import NEWEST_FIRST
from tests.support.notifier import payment_requested
from upload.errors import DuplicateJob
from upload.repository import CLAIM, COLLECTION, JobRepository, reuse_id


def _job(
    status: str,
    fingerprint: str,
    expires_in: timedelta = timedelta(hours=24),
    *,
    claims: bool = False,
) -> dict:
    job = {
        "_id": f"cv_{uuid.uuid4().hex}",
        "tenant": "acme",
        "fingerprint": fingerprint,
        "status": status,
        "expires_at": now() + expires_in,
        "result": {"key": "k"} if status == "completed" else None,
        "source": {"format": "mpp"},
    }
    return {**job, CLAIM: reuse_id("acme", fingerprint)} if claims else job


async def _collection_top(infra: Infra) -> dict[str, int]:
    """What the server did on the jobs collection so far, by kind of operation."""
    totals = (await infra.mongo.admin.command("top"))["totals"]
    kinds = totals.get(f"{infra.db.name}.{COLLECTION}", {})
    return {kind: kinds.get(kind, {}).get("count", 0) for kind in ("queries", "insert", "update")}


async def _operations(infra: Infra, since: dict[str, int]) -> dict[str, int]:
    now_ = await _collection_top(infra)
    return {kind: now_[kind] - since[kind] for kind in now_}


async def test_the_holder_of_a_file_is_read_alone_however_many_jobs_share_the_file(
    infra: Infra,
) -> None:
    """It runs on every upload of a known file: a flood of one file made 3,000 jobs with one
    fingerprint, and a query on the fingerprint read every one of them (300 ms each on
    SecantusDB); only the job holding the claim carries it."""
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    same = [_job("completed", "same", claims=i == 7) for i in range(300)]
    await infra.db[COLLECTION].insert_many(same)

    holder = await jobs.insert_claiming(_job("queued", "same"))
    assert holder is not None and holder.prior is not None
    assert holder.job == same[7]["_id"] and not holder.dead_end
    read = infra.db[COLLECTION].find({CLAIM: reuse_id("acme", "same")})
    assert (await read.explain())["executionStats"]["totalDocsExamined"] == 1
    elsewhere = {**_job("queued", "same"), "tenant": "other-tenant"}
    assert await jobs.insert_claiming(elsewhere) is None  # each tenant's files are its own


async def test_a_new_file_costs_one_write_and_its_job_holds_the_claim(infra: Infra) -> None:
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    first = _job("queued", "new")
    before = await _collection_top(infra)
    assert await jobs.insert_claiming(first) is None
    assert await _operations(infra, before) == {"queries": 0, "insert": 1, "update": 0}
    stored = await infra.db[COLLECTION].find_one({"_id": first["_id"]})
    assert stored is not None and stored[CLAIM] == reuse_id("acme", "new")

    second = _job("queued", "new")
    in_flight = await jobs.insert_claiming(second)  # the first still converting: it stays
    assert in_flight is not None and in_flight.in_flight and in_flight.job == first["_id"]
    assert await infra.db[COLLECTION].find_one({"_id": second["_id"]}) is None  # not inserted
    completed = {"status": "completed", "result": {"key": "k"}}
    await infra.db[COLLECTION].update_one({"_id": first["_id"]}, {"$set": completed})
    found = await jobs.insert_claiming(_job("queued", "new"))
    assert found is not None and found.prior is not None and found.prior["_id"] == first["_id"]


async def test_a_completed_holder_found_is_kept_a_while_then_asked_for_again(
    infra: Infra,
) -> None:
    jobs, uncached = JobRepository(infra.db), JobRepository(infra.db, reuse_cache_s=0)
    await jobs.ensure_indexes()
    done = _job("completed", "known", claims=True)
    await infra.db[COLLECTION].insert_one(done)
    assert jobs.remembered_prior("acme", "known") is None  # nothing learned yet
    assert (await jobs.insert_claiming(_job("queued", "known"))) is not None
    await infra.db[COLLECTION].delete_one({"_id": done["_id"]})  # unseen by this process
    before = await _collection_top(infra)
    cached = jobs.remembered_prior("acme", "known")  # no read: a flood of one file reads once
    assert cached is not None and cached["_id"] == done["_id"]
    assert await _operations(infra, before) == {"queries": 0, "insert": 0, "update": 0}
    assert uncached.remembered_prior("acme", "known") is None
    assert await uncached.insert_claiming(_job("queued", "known")) is None  # the claim was free


async def test_what_a_process_learned_of_claims_is_dropped_before_a_trim(infra: Infra) -> None:
    """A burst of many files leaves a holder learned for each; nothing asks for them again."""
    jobs = JobRepository(infra.db, reuse_cache_s=0.2)
    await jobs.ensure_indexes()
    for n in range(20):
        assert await jobs.insert_claiming(_job("queued", f"file {n}")) is None
    await release_free_memory()
    assert len(jobs._targets) == 20
    await asyncio.sleep(0.3)
    await release_free_memory()
    assert not jobs._targets


async def test_uploads_of_one_new_file_at_once_share_one_claim(infra: Infra) -> None:
    """A flood of one new file: one insert takes the claim; the others wait for it and learn
    its job, in flight, with one read between them."""
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    uploads = [_job("queued", "n") for _ in range(20)]
    before = await _collection_top(infra)
    found = await asyncio.gather(*(jobs.insert_claiming(job) for job in uploads))
    inserted = [job["_id"] for job, holder in zip(uploads, found, strict=True) if holder is None]
    assert len(inserted) == 1
    assert all(h.in_flight and h.job == inserted[0] for h in found if h is not None)
    assert await _operations(infra, before) == {"queries": 1, "insert": 1, "update": 0}


async def test_the_claim_stays_on_a_job_in_flight_and_moves_off_a_dead_end(infra: Infra) -> None:
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    queued, failed, expired = (
        _job("queued", "f", claims=True),
        _job("failed", "g", claims=True),
        _job("completed", "h", expires_in=-timedelta(seconds=1), claims=True),
    )
    await infra.db[COLLECTION].insert_many([queued, failed, expired])

    in_flight = await jobs.insert_claiming(_job("queued", "f"))
    assert in_flight is not None and in_flight.in_flight  # it will be the one to reuse
    for dead_end, fingerprint in ((failed, "g"), (expired, "h")):
        holder = await jobs.insert_claiming(_job("queued", fingerprint))
        assert holder is not None and holder.dead_end and holder.job == dead_end["_id"]
        await jobs.release("acme", fingerprint, holder)
        successor = _job("queued", fingerprint)
        assert await jobs.insert_claiming(successor) is None
        kept = await infra.db[COLLECTION].find_one({"_id": dead_end["_id"]})
        assert kept is not None and CLAIM not in kept  # released, the job itself kept
    await infra.db[COLLECTION].delete_one({"_id": queued["_id"]})  # deleted by its user
    assert await JobRepository(infra.db).insert_claiming(_job("queued", "f")) is None


async def test_a_learned_holder_since_deleted_is_let_go_without_a_write(infra: Infra) -> None:
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    first = _job("queued", "f")
    assert await jobs.insert_claiming(first) is None  # this process learns it holds the claim
    await infra.db[COLLECTION].delete_one({"_id": first["_id"]})  # unseen by this process
    before = await _collection_top(infra)
    holder = await jobs.insert_claiming(_job("queued", "f"))
    assert holder is not None and holder.dead_end and not holder.job
    await jobs.release("acme", "f", holder)
    assert await _operations(infra, before) == {"queries": 1, "insert": 0, "update": 0}
    assert await jobs.insert_claiming(_job("queued", "f")) is None  # the next takes the claim


async def test_an_upload_whose_id_is_taken_is_refused_as_a_duplicate_job(infra: Infra) -> None:
    """A racing request with the same Idempotency-Key (the same job id), told apart from a
    refused claim."""
    jobs = JobRepository(infra.db)
    await jobs.ensure_indexes()
    first = _job("queued", "i")
    assert await jobs.insert_claiming(first) is None
    twin = {**_job("queued", "other file"), "_id": first["_id"]}
    with pytest.raises(DuplicateJob):
        await jobs.insert_claiming(twin)


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


async def test_a_status_change_clears_the_request_and_keeps_the_other_entries(
    infra: Infra,
) -> None:
    """The converter had the request, so its first status change clears it from the outbox;
    an entry of another kind (a charge) stays for its own relay."""
    jobs = JobRepository(infra.db)
    request = outbox_entry(
        encode(
            ConversionRequested(
                tenant_id="acme",
                job_id="x",
                source_key="k",
                source_sha256="0" * 64,
                source_size=1,
                filename="a.mpp",
                options=ConversionOptions(),
                result_key="r",
            ),
            "/t",
        )
    )
    charge = outbox_entry(encode(payment_requested("acme", "x"), "/t"))
    starting, finishing = _job("queued", "a"), _job("queued", "b")
    for job in (starting, finishing):
        await infra.db[COLLECTION].insert_one({**job, "outbox": [request, charge]})

    await jobs.mark_converting([starting["_id"]])
    await jobs.transition_many([(finishing["_id"], ["queued"], {"status": "failed"})])

    async for doc in infra.db[COLLECTION].find({}):
        assert [entry["id"] for entry in doc["outbox"]] == [charge["id"]], doc["_id"]


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
