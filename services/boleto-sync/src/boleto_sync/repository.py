"""All MongoDB access of boleto-sync: ``boletos`` (with the outbox) and ``boleto_jobs``.

Every event leaves through the boleto document it concerns, written in the same update as
the state change it announces.
"""

from contextlib import suppress
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.admin.summary_repository import JobSummaryRepository
from shared.clock import now
from shared.messaging.repository import OutboxRepository

# the payer's name, document and address: needed until the bank holds the charge, which keeps
# them; the update that records the charge's issue drops them (personal data kept no longer
# than it serves)
PAYER = "charge.pagador"


class BoletoRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._boletos = db["boletos"]
        self._jobs = db["boleto_jobs"]
        self.outbox = OutboxRepository(self._boletos)
        self.job_summary = JobSummaryRepository(self._jobs, ["queued", "running"])

    async def ensure_indexes(self) -> None:
        await self._boletos.create_index([("tenant", ASCENDING), ("proposal_id", ASCENDING)])
        await self._boletos.create_index("inter.codigo_solicitacao", sparse=True)
        await self._jobs.create_index([("status", ASCENDING), ("kind", ASCENDING)])
        await self.outbox.ensure_indexes()

    async def forget_issued_payers(self) -> int:
        """Drop the payer of every charge the bank has issued, which earlier versions kept for
        good; returns how many boletos changed."""
        result = await self._boletos.update_many(
            {PAYER: {"$exists": True}, "inter.codigo_solicitacao": {"$ne": None}},
            {"$unset": {PAYER: ""}},
        )
        return result.modified_count

    async def add(self, boleto: dict[str, Any], job: dict[str, Any]) -> None:
        await self._jobs.insert_one(job)
        await self._boletos.insert_one(boleto)

    async def add_once(self, boleto: dict[str, Any], job: dict[str, Any]) -> bool:
        """Add a boleto whose id (and its sync job's) derives from what it charges for: False
        when it exists already (a redelivered request), its job then left as it is."""
        with suppress(DuplicateKeyError):  # a concurrent redelivery upserted it first
            fields = {key: value for key, value in job.items() if key != "_id"}
            await self._jobs.update_one({"_id": job["_id"]}, {"$setOnInsert": fields}, upsert=True)
        try:
            await self._boletos.insert_one(boleto)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, tenant: str, boleto_id: str) -> dict[str, Any] | None:
        return await self._boletos.find_one({"_id": boleto_id, "tenant": tenant}, {"outbox": 0})

    async def shown(self, boleto_id: str) -> dict[str, Any] | None:
        """The boleto as the API shows it (whatever its tenant; the caller checks)."""
        return await self._boletos.find_one({"_id": boleto_id}, {"outbox": 0})

    async def by_id(self, boleto_id: str) -> dict[str, Any] | None:
        return await self._boletos.find_one({"_id": boleto_id})

    async def by_codigo(self, codigo: str) -> dict[str, Any] | None:
        return await self._boletos.find_one({"inter.codigo_solicitacao": codigo}, {"outbox": 0})

    async def of_proposal(self, tenant: str, proposal_id: str) -> list[dict[str, Any]]:
        cursor = self._boletos.find({"tenant": tenant, "proposal_id": proposal_id}, {"outbox": 0})
        return await cursor.to_list(1000)

    async def claim_sync(self, boleto_id: str, job_id: str, entry: dict[str, Any]) -> bool:
        """Start a sync of an issued boleto unless one is in flight (at most one per boleto)."""
        result = await self._boletos.update_one(
            {"_id": boleto_id, "pdf.sync_job_id": None, "inter.codigo_solicitacao": {"$ne": None}},
            {"$set": {"pdf.sync_job_id": job_id, "updated_at": now()}, "$push": {"outbox": entry}},
        )
        return result.modified_count == 1

    async def start_issue(self, boleto_id: str) -> dict[str, Any] | None:
        return await self._boletos.find_one_and_update(
            {"_id": boleto_id},
            {"$inc": {"issue_attempts": 1}, "$set": {"updated_at": now()}},
            return_document=ReturnDocument.AFTER,
        )

    async def update(
        self,
        boleto_id: str,
        changes: dict[str, Any],
        entries: list[dict[str, Any]] | None = None,
        only_if: dict[str, Any] | None = None,
        forget: tuple[str, ...] = (),
    ) -> bool:
        update: dict[str, Any] = {"$set": {**changes, "updated_at": now()}}
        if entries:
            update["$push"] = {"outbox": {"$each": entries}}
        if forget:
            update["$unset"] = dict.fromkeys(forget, "")
        result = await self._boletos.update_one({"_id": boleto_id, **(only_if or {})}, update)
        return result.modified_count == 1

    async def add_version(
        self,
        boleto_id: str,
        job_id: str,
        version: dict[str, Any],
        changes: dict[str, Any],
        entries: list[dict[str, Any]],
        only_if: dict[str, Any] | None = None,
    ) -> bool:
        result = await self._boletos.update_one(
            {"_id": boleto_id, "pdf.sync_job_id": job_id, **(only_if or {})},
            {
                "$set": {
                    **changes,
                    "pdf.current": version,
                    "pdf.sync_job_id": None,
                    "updated_at": now(),
                },
                "$push": {"pdf.versions": version, "outbox": {"$each": entries}},
            },
        )
        return result.modified_count == 1

    async def reopen_issue(self, boleto_id: str) -> None:
        """A charge whose issue ran out of attempts, with nothing issued, is pending again,
        and the sync job its creation started is queued again (a replayed issue request)."""
        job = await self._jobs.find_one(
            {"boleto_ids": boleto_id, "status": "failed", "error.code": "issue_failed"}
        )
        if job is None:
            return
        reopened = await self._boletos.update_one(
            {"_id": boleto_id, "status": "FAILED", "error.code": "issue_failed"},
            {
                "$set": {
                    "status": "PENDING",
                    "error": None,
                    "pdf.sync_job_id": job["_id"],
                    "updated_at": now(),
                }
            },
        )
        if reopened.modified_count:
            await self.set_job(job["_id"], "queued")

    async def reclaim_sync(self, boleto_id: str, job_id: str) -> None:
        """A sync job that ran out of attempts takes the boleto's sync slot back, unless
        another sync holds it (a replayed sync request)."""
        job = await self._jobs.find_one(
            {"_id": job_id, "status": "failed", "error.code": "sync_failed"}
        )
        if job is None:
            return
        claimed = await self._boletos.update_one(
            {"_id": boleto_id, "pdf.sync_job_id": None},
            {"$set": {"pdf.sync_job_id": job_id, "updated_at": now()}},
        )
        if claimed.modified_count:
            await self.set_job(job_id, "queued")

    # jobs

    async def add_job(self, job: dict[str, Any]) -> None:
        await self._jobs.insert_one(job)

    async def remove_job(self, job_id: str) -> None:
        await self._jobs.delete_one({"_id": job_id})

    async def get_job(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        return await self._jobs.find_one({"_id": job_id, "tenant": tenant})

    async def jobs_by_ids(self, job_ids: list[str]) -> list[dict[str, Any]]:
        return await self._jobs.find({"_id": {"$in": job_ids}}).to_list(len(job_ids) or 1)

    async def set_job(self, job_id: str, status: str, error: dict[str, Any] | None = None) -> None:
        await self._jobs.update_one(
            {"_id": job_id}, {"$set": {"status": status, "error": error, "updated_at": now()}}
        )

    async def queued_syncs(self) -> int:
        return await self._jobs.count_documents(
            {"kind": "pdf_sync", "status": {"$in": ["queued", "running"]}}
        )

    # reconciliation

    async def lost_issues(self, since: datetime) -> list[dict[str, Any]]:
        """Boletos whose issue ran out of attempts with no charge known, oldest first: the
        bank may hold a charge an attempt made whose answer was lost."""
        cursor = self._boletos.find(
            {
                "status": "FAILED",
                "error.code": "issue_failed",
                "inter.codigo_solicitacao": None,
                "created_at": {"$gte": since},
            },
            {"outbox": 0},
        ).sort("created_at", ASCENDING)
        return await cursor.to_list(10_000)

    async def creation_job(self, boleto_id: str) -> dict[str, Any] | None:
        """The PDF sync job the boleto's creation started (the first of its sync jobs)."""
        cursor = self._jobs.find({"boleto_ids": boleto_id, "kind": "pdf_sync"})
        jobs = await cursor.sort("created_at", ASCENDING).to_list(1)
        return jobs[0] if jobs else None

    async def adopt(
        self, boleto_id: str, codigo: str, situacao: str, job_id: str, entries: list[dict[str, Any]]
    ) -> bool:
        """The bank's charge becomes the boleto's and ``job_id`` syncs its PDF, unless the
        boleto is no longer a lost issue (a replayed issue request got there first)."""
        adopted = await self._boletos.update_one(
            {
                "_id": boleto_id,
                "status": "FAILED",
                "error.code": "issue_failed",
                "inter.codigo_solicitacao": None,
            },
            {
                "$set": {
                    "inter.codigo_solicitacao": codigo,
                    "status": situacao,
                    "error": None,
                    "pdf.sync_job_id": job_id,
                    "updated_at": now(),
                },
                "$push": {"outbox": {"$each": entries}},
                "$unset": {PAYER: ""},
            },
        )
        if adopted.modified_count:
            await self.set_job(job_id, "queued")
        return adopted.modified_count == 1
