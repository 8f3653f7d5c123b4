"""All MongoDB access for conversion jobs (collection ``conversion_jobs``, owned by upload)."""

import contextlib
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import bson
from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from shared.clock import now, to_millis
from shared.messaging.notices import READ_AGAIN, Change, Recorded
from shared.messaging.repository import OutboxRepository
from shared.pagination import NEWEST_FIRST, Cursor
from shared.singleflight import SingleFlight
from upload.errors import DuplicateJob

COLLECTION = "conversion_jobs"
REUSE_COLLECTION = "conversion_reuse"
_NO_OUTBOX = {"outbox": 0}
# a job, the statuses it may leave, and the fields it changes to
Transition = tuple[str, list[str], dict[str, Any]]
_REUSE_FIELDS = {"status": 1, "expires_at": 1, "result": 1, "source.format": 1}
# how long a process keeps the job a fingerprint's pointer names, and the job once found
# completed, without asking again (a job deleted meanwhile is caught by its result's absence
# from the store; a pointer moved meanwhile, by the old job being failed or gone), and for how
# many fingerprints
REUSE_CACHE_S = 30.0
REUSE_CACHE_ENTRIES = 10_000
# a pointer this young naming no job is not a dead end: its job's insert follows it
NEW_JOB = timedelta(seconds=10)


def reuse_id(tenant: str, fingerprint: str) -> str:
    return f"{tenant}:{fingerprint}"


@dataclass
class _Target:
    """The job a reuse pointer names, as this process learned it (``time.monotonic``)."""

    job: str
    learned_at: float
    made_at: datetime | None  # when the pointer was set to it (None: before this was kept)
    prior: dict[str, Any] | None = None  # the job's reuse fields, once found completed

    def just_made(self) -> bool:
        """Whether the pointer is too young for its job's absence to mean a dead end."""
        return self.made_at is not None and self.made_at > now() - NEW_JOB


@dataclass(frozen=True)
class ReuseLookup:
    """What the reuse pointer of a fingerprint says about a new upload with it."""

    prior: dict[str, Any] | None  # a completed, unexpired job whose result the upload can take
    point_here: bool  # the pointer leads nowhere useful: the new job should become its target


def _matching(ids: Any, change: Change) -> dict[str, Any]:
    """The filter of ``change``'s update, for the jobs ``ids`` matches."""
    return {"_id": ids, **{name: {"$in": values} for name, values in change.condition.items()}}


class JobRepository:
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        on_recorded: Callable[[Recorded], Awaitable[None]] | None = None,
        reuse_cache_s: float = REUSE_CACHE_S,
    ) -> None:
        """``on_recorded`` hears each status change written, as the update applied (the
        worker's notices to the API replicas)."""
        self._on_recorded = on_recorded
        self.reuse_cache_s = reuse_cache_s
        # what this process learned of each pointer, for ``reuse_cache_s``
        self._targets: OrderedDict[str, _Target] = OrderedDict()
        self._claims: SingleFlight[str, str | None] = SingleFlight("reuse pointers")
        self._jobs = db[COLLECTION]
        # one pointer per tenant and fingerprint to the job whose result identical uploads
        # take: the lookup is by _id however many jobs share the fingerprint (a query on the
        # jobs' fingerprint reads every one of them on SecantusDB, ``limit`` or not: 300 ms
        # at 3,000 identical uploads)
        self._reuse = db[REUSE_COLLECTION]
        self.outbox = OutboxRepository(self._jobs)

    async def ensure_indexes(self) -> None:
        await self._jobs.create_index(
            [("tenant", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        await self._jobs.create_index(
            [
                ("tenant", ASCENDING),
                ("status", ASCENDING),
                ("created_at", DESCENDING),
                ("_id", DESCENDING),
            ]
        )
        await self._reuse.create_index("expires_at", expireAfterSeconds=0)
        # the reuse lookup's index before the pointers, if still there: every write paid for it
        with contextlib.suppress(OperationFailure):
            await self._jobs.drop_index("tenant_1_fingerprint_1_status_1_expires_at_1")
        await self._jobs.create_index("result.key", sparse=True)
        await self._jobs.create_index("expires_at")
        # backstop only: the retention sweeper removes objects and records together well before
        await self._jobs.create_index("purge_at", expireAfterSeconds=0)
        await self.outbox.ensure_indexes()

    async def insert(self, job: dict[str, Any]) -> None:
        try:
            await self._jobs.insert_one(job)
        except DuplicateKeyError:
            raise DuplicateJob(job["_id"]) from None

    def as_read(self, job: dict[str, Any]) -> dict[str, Any]:
        """The job as a read of it returns it (times to the millisecond, the client's types)."""
        shown = {name: value for name, value in job.items() if name != "outbox"}
        return bson.decode(bson.encode(shown), codec_options=self._jobs.codec_options)

    async def get(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        return await self._jobs.find_one({"_id": job_id, "tenant": tenant}, _NO_OUTBOX)

    async def by_id(self, job_id: str) -> dict[str, Any] | None:
        return await self._jobs.find_one({"_id": job_id}, _NO_OUTBOX)

    async def reuse_lookup(
        self, tenant: str, fingerprint: str, job_id: str, expires_at: datetime
    ) -> ReuseLookup:
        """Whether an identical earlier upload of the tenant has a result to take.

        The pointer is inserted first, naming the new job ``job_id``: a new file's upload
        (the common case) costs that one write, and its job is the target from then on. A
        known file's insert is refused and the pointer read instead. Concurrent uploads of
        one file in this process share one claim (insert or read), and the target learned is
        kept for ``reuse_cache_s``: later uploads read only the target job, and none once it
        was found completed (a flood of one file reads the pointer once per process). A
        pointer to a job still in flight stays: that job will be the one to reuse.
        """
        pointer_id = reuse_id(tenant, fingerprint)
        known = self._known_target(pointer_id)
        if known is None:
            claim = partial(self._claim_pointer, pointer_id, job_id, expires_at)
            target = await self._claims.join(pointer_id, claim)
            if target is None:  # the pointer expired between the insert and the read
                return ReuseLookup(None, point_here=True)
            if target == job_id:
                return ReuseLookup(None, point_here=False)
            known = self._known_target(pointer_id)
        elif known.prior is not None:
            return ReuseLookup(known.prior, point_here=False)
        else:
            target = known.job
        job = await self._jobs.find_one({"_id": target}, _REUSE_FIELDS)
        if job is None and known is not None and known.just_made():
            # a pointer just made names a job whose insert follows it
            return ReuseLookup(None, point_here=False)
        if job is None or job["status"] == "failed" or job["expires_at"] <= now():
            self._targets.pop(pointer_id, None)
            return ReuseLookup(None, point_here=True)
        if job["status"] == "completed":
            made_at = known.made_at if known is not None else None
            self._remember(pointer_id, _Target(job["_id"], time.monotonic(), made_at, job))
            return ReuseLookup(job, point_here=False)
        return ReuseLookup(None, point_here=False)

    async def _claim_pointer(
        self, pointer_id: str, job_id: str, expires_at: datetime
    ) -> str | None:
        """The job the pointer names once this claim is done: ``job_id`` when the insert made
        it, else the one already named (None: the pointer went meanwhile)."""
        made_at = now()
        try:
            await self._reuse.insert_one(
                {"_id": pointer_id, "job": job_id, "expires_at": expires_at, "at": made_at}
            )
        except DuplicateKeyError:
            pointer = await self._reuse.find_one({"_id": pointer_id})
            if pointer is None:
                return None
            target = _Target(pointer["job"], time.monotonic(), pointer.get("at"))
            self._remember(pointer_id, target)
            return target.job
        self._remember(pointer_id, _Target(job_id, time.monotonic(), made_at))
        return job_id

    def _known_target(self, pointer_id: str) -> "_Target | None":
        known = self._targets.get(pointer_id)
        if known is None:
            return None
        if known.learned_at + self.reuse_cache_s <= time.monotonic() or (
            known.prior is not None and known.prior["expires_at"] <= now()
        ):
            del self._targets[pointer_id]
            return None
        return known

    def _remember(self, pointer_id: str, target: "_Target") -> None:
        self._targets[pointer_id] = target
        self._targets.move_to_end(pointer_id)
        while len(self._targets) > REUSE_CACHE_ENTRIES:
            self._targets.popitem(last=False)

    async def point_reuse_at(self, job: dict[str, Any]) -> None:
        """Identical uploads of the job's tenant take this job's result from now on."""
        pointer_id = reuse_id(job["tenant"], job["fingerprint"])
        self._targets.pop(pointer_id, None)
        made_at = now()
        await self._reuse.update_one(
            {"_id": pointer_id},
            {"$set": {"job": job["_id"], "expires_at": job["expires_at"], "at": made_at}},
            upsert=True,
        )
        self._remember(pointer_id, _Target(job["_id"], time.monotonic(), made_at))

    async def page(
        self, tenant: str, status: str | None, limit: int, after: Cursor | None
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"tenant": tenant}
        if status:
            query["status"] = status
        if after:
            query.update(after.query())
        cursor = self._jobs.find(query, _NO_OUTBOX).sort(NEWEST_FIRST).limit(limit)
        return await cursor.to_list(limit)

    async def delete(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        return await self._jobs.find_one_and_delete({"_id": job_id, "tenant": tenant}, _NO_OUTBOX)

    async def transition_many(self, changes: list[Transition]) -> set[str]:
        """Status changes of many jobs in one command, each only from the states given; the
        jobs of ``changes`` that no longer exist (deleted meanwhile).

        Updates, not ``find_one_and_update``: SecantusDB plans that as a scan of the
        collection (103 ms at 5,000 jobs against 3 ms).
        """
        at = to_millis(now())
        updates = [
            (job_id, Change({"status": from_statuses}, {**fields, "updated_at": at}))
            for job_id, from_statuses, fields in changes
        ]
        result = await self._jobs.bulk_write(
            [
                UpdateOne(_matching(job_id, change), {"$set": change.fields})
                for job_id, change in updates
            ],
            ordered=False,
        )
        # a job twice in one batch (an event and its redelivery): which update the database
        # applied first is not known, so the replicas read it instead of applying either
        times = Counter(job_id for job_id, _ in updates)
        await self._recorded(
            {job_id: change if times[job_id] == 1 else READ_AGAIN for job_id, change in updates}
        )
        if result.matched_count == len(updates):
            return set()
        # some did not change: a replay (already past those states) or a deleted job
        ids = list(times)
        existing = self._jobs.find({"_id": {"$in": ids}}, {"_id": 1})
        return set(ids) - {doc["_id"] async for doc in existing}

    async def mark_converting(self, job_ids: list[str]) -> None:
        """The jobs still queued are converting: one update for all of them."""
        at = to_millis(now())
        change = Change({"status": ["queued"]}, {"status": "converting", "updated_at": at})
        await self._jobs.update_many(_matching({"$in": job_ids}, change), {"$set": change.fields})
        await self._recorded(dict.fromkeys(job_ids, change))

    async def _recorded(self, updates: Recorded) -> None:
        if self._on_recorded is not None:
            await self._on_recorded(updates)

    async def other_references(self, key: str, job_id: str) -> int:
        return await self._jobs.count_documents(
            {"result.key": key, "_id": {"$ne": job_id}}, limit=1
        )

    async def expired(self, limit: int = 200) -> list[dict[str, Any]]:
        cursor = self._jobs.find({"expires_at": {"$lt": now()}}, _NO_OUTBOX).limit(limit)
        return await cursor.to_list(limit)

    async def remove(self, job_id: str) -> None:
        await self._jobs.delete_one({"_id": job_id})
