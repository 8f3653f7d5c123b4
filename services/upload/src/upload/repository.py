"""All MongoDB access for conversion jobs (collection ``conversion_jobs``, owned by upload)."""

import asyncio
import contextlib
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import bson
from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from shared.clock import now, to_millis
from shared.events import ConversionRequested
from shared.memory import swept_before_trim
from shared.messaging.notices import READ_AGAIN, Change, Recorded
from shared.messaging.repository import OutboxRepository
from shared.pagination import NEWEST_FIRST, Cursor
from shared.singleflight import SingleFlight
from upload.errors import DuplicateJob
from upload.model import PURGE_GRACE

COLLECTION = "conversion_jobs"
# the collection of reuse pointers before a job held its fingerprint's claim itself
OLD_REUSE_COLLECTION = "conversion_reuse"
_NO_OUTBOX = {"outbox": 0}
# a job, the statuses it may leave, and the fields it changes to
Transition = tuple[str, list[str], dict[str, Any]]
# the field of the one job whose result identical uploads of its tenant take (unique, sparse)
CLAIM = "reuse_key"
_REUSE_FIELDS = {"status": 1, "expires_at": 1, "result": 1, "source.format": 1}
# a status change comes from the converter, which had the job's request: the change clears the
# request from the outbox, where the API's relay would have spent a write of its own on it
_REQUEST_PUBLISHED = {"$pull": {"outbox": {"routing_key": ConversionRequested.routing_key()}}}
# how long a process keeps the job holding a fingerprint's claim, and the job once found
# completed, without asking again (a job deleted meanwhile is caught by its result's absence
# from the store; a claim moved meanwhile, by the old job being failed or gone), and for how
# many fingerprints
REUSE_CACHE_S = 30.0
REUSE_CACHE_ENTRIES = 10_000


def reuse_id(tenant: str, fingerprint: str) -> str:
    return f"{tenant}:{fingerprint}"


@dataclass
class _Target:
    """The job holding a fingerprint's claim, as this process learned it (``time.monotonic``)."""

    job: str
    learned_at: float
    prior: dict[str, Any] | None = None  # the job's reuse fields, once found completed


@dataclass(frozen=True)
class Holder:
    """The job that holds the claim a new upload could not take."""

    job: str
    prior: dict[str, Any] | None  # its reuse fields when completed and unexpired
    in_flight: bool  # queued or converting: it will be the one to reuse

    @property
    def dead_end(self) -> bool:
        """Failed, expired or gone: the claim should move to a new job."""
        return self.prior is None and not self.in_flight


def _on_claim(refused: DuplicateKeyError) -> bool:
    """Whether the insert was refused for its claim (else for its id: an Idempotency-Key)."""
    details = refused.details or {}
    if "keyPattern" in details:
        return CLAIM in details["keyPattern"]
    return f"index: {CLAIM}_1 " in str(details.get("errmsg", ""))


def expired_at(at: datetime) -> dict[str, Any]:
    """The jobs expired at ``at``: through the TTL index's field, always ``PURGE_GRACE`` after
    ``expires_at`` (the field alone: SecantusDB scans the collection for a second condition)."""
    return {"purge_at": {"$lt": at + PURGE_GRACE}}


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
        # what this process learned of each claim, for ``reuse_cache_s``
        self._targets: OrderedDict[str, _Target] = OrderedDict()
        # the claims this process is inserting: uploads of the same file wait for their outcome
        self._claiming: dict[str, asyncio.Future[None]] = {}
        self._reads: SingleFlight[str, dict[str, Any] | None] = SingleFlight("reuse holders")
        swept_before_trim(self)
        self._db = db
        self._jobs = db[COLLECTION]
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
        await self._jobs.create_index(CLAIM, unique=True, sparse=True)
        # the reuse lookups before the claim, if still there: every write paid for them
        with contextlib.suppress(OperationFailure):
            await self._jobs.drop_index("tenant_1_fingerprint_1_status_1_expires_at_1")
        await self._db.drop_collection(OLD_REUSE_COLLECTION)
        await self._jobs.create_index("result.key", sparse=True)
        # the sweeper's own index, until it looked for expired jobs through ``purge_at``'s: each
        # index costs every write of a job (SecantusDB rewrites them all on an update)
        with contextlib.suppress(OperationFailure):
            await self._jobs.drop_index("expires_at_1")
        # the retention sweeper's, and a backstop: the sweeper removes objects and records
        # together well before the TTL removes a job it missed
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

    def remembered_prior(self, tenant: str, fingerprint: str) -> dict[str, Any] | None:
        """The completed job whose result an identical upload takes, as this process last
        found it (no read: a flood of one known file reads nothing after its first upload)."""
        known = self._known_target(reuse_id(tenant, fingerprint))
        return known.prior if known is not None else None

    async def insert_claiming(self, job: dict[str, Any]) -> Holder | None:
        """Insert the conversion ``job`` holding its fingerprint's claim; None when inserted,
        else the job that holds the claim (and ``job`` is not inserted).

        A new file (the common case) costs this one write: the claim is the job's own
        ``reuse_key``, unique among the jobs. A known file's insert is refused and the holder
        read instead. Uploads of one file at once in this process wait for the first one's
        claim and take what it learned; the holder learned is kept for ``reuse_cache_s``.
        """
        claim = reuse_id(job["tenant"], job["fingerprint"])
        while (pending := self._claiming.get(claim)) is not None:
            await asyncio.wait([pending])
        known = self._known_target(claim)
        if known is not None:
            return await self._holder(claim, known)
        done = asyncio.get_running_loop().create_future()
        self._claiming[claim] = done
        try:
            return await self._insert_claim(claim, job)
        finally:
            del self._claiming[claim]
            done.set_result(None)

    async def _insert_claim(self, claim: str, job: dict[str, Any]) -> Holder | None:
        try:
            await self._jobs.insert_one({**job, CLAIM: claim})
        except DuplicateKeyError as exc:
            if not _on_claim(exc):
                raise DuplicateJob(job["_id"]) from None
            holder = await self._jobs.find_one({CLAIM: claim}, _REUSE_FIELDS)
            if holder is None:  # released between the insert and the read
                return Holder("", None, in_flight=False)
            return self._classified(claim, holder, time.monotonic())
        self._remember(claim, _Target(job["_id"], time.monotonic()))
        return None

    async def _holder(self, claim: str, known: _Target) -> Holder:
        """The holder this process learned, as it is now: one read, shared by the uploads
        asking at once, unless it was found completed already."""
        if known.prior is not None:
            return Holder(known.job, known.prior, in_flight=False)
        read = partial(self._jobs.find_one, {"_id": known.job}, _REUSE_FIELDS)
        job = await self._reads.join(known.job, read)
        if job is None:  # deleted, and its claim with it: nothing to release
            self._targets.pop(claim, None)
            return Holder("", None, in_flight=False)
        return self._classified(claim, job, known.learned_at)

    def _classified(self, claim: str, job: dict[str, Any], learned_at: float) -> Holder:
        if job["status"] == "completed" and job["expires_at"] > now():
            self._remember(claim, _Target(job["_id"], learned_at, job))
            return Holder(job["_id"], job, in_flight=False)
        if job["status"] in ("queued", "converting"):
            self._remember(claim, _Target(job["_id"], learned_at))
            return Holder(job["_id"], None, in_flight=True)
        self._targets.pop(claim, None)
        return Holder(job["_id"], None, in_flight=False)

    async def release(self, tenant: str, fingerprint: str, holder: Holder) -> None:
        """The holder is a dead end (failed, expired, its result gone): the next upload of the
        file claims it for its own job."""
        claim = reuse_id(tenant, fingerprint)
        self._targets.pop(claim, None)
        if holder.job:
            await self._jobs.update_one({"_id": holder.job, CLAIM: claim}, {"$unset": {CLAIM: ""}})

    def _known_target(self, claim: str) -> "_Target | None":
        known = self._targets.get(claim)
        if known is None:
            return None
        if self._stale(known):
            del self._targets[claim]
            return None
        return known

    def sweep(self) -> None:
        """Forget the holders learned longer than ``reuse_cache_s`` ago."""
        for claim in [c for c, t in self._targets.items() if self._stale(t)]:
            del self._targets[claim]

    def _stale(self, known: _Target) -> bool:
        return known.learned_at + self.reuse_cache_s <= time.monotonic() or (
            known.prior is not None and known.prior["expires_at"] <= now()
        )

    def _remember(self, claim: str, target: "_Target") -> None:
        self._targets[claim] = target
        self._targets.move_to_end(claim)
        while len(self._targets) > REUSE_CACHE_ENTRIES:
            self._targets.popitem(last=False)

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
                UpdateOne(_matching(job_id, change), {"$set": change.fields, **_REQUEST_PUBLISHED})
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
        await self._jobs.update_many(
            _matching({"$in": job_ids}, change), {"$set": change.fields, **_REQUEST_PUBLISHED}
        )
        await self._recorded(dict.fromkeys(job_ids, change))

    async def _recorded(self, updates: Recorded) -> None:
        if self._on_recorded is not None:
            await self._on_recorded(updates)

    async def other_references(self, key: str, job_id: str) -> int:
        return await self._jobs.count_documents(
            {"result.key": key, "_id": {"$ne": job_id}}, limit=1
        )

    async def expired(self, limit: int = 200) -> list[dict[str, Any]]:
        cursor = self._jobs.find(expired_at(now()), _NO_OUTBOX).limit(limit)
        return await cursor.to_list(limit)

    async def remove(self, job_id: str) -> None:
        await self._jobs.delete_one({"_id": job_id})
