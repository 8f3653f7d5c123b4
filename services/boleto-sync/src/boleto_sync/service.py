"""Decisions behind the boleto API: accept a charge, start a PDF sync at most once, jobs."""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from boleto_sync.limiter import GlobalRateLimiter
from boleto_sync.repository import BoletoRepository, now
from boleto_sync.schemas import BoletoCreate
from shared.events import BoletoSyncRequested, ChargeIssueRequested, Event
from shared.messaging import OutboxRelay, encode, outbox_entry
from shared.storage import ObjectStore

log = structlog.get_logger()
SOURCE = "/services/boleto-sync"
SECONDS_PER_SYNC_GROUPS = ("get", "pdf")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def entry(event: Event) -> dict[str, Any]:
    return outbox_entry(encode(event, SOURCE))


def sync_job(tenant: str, boleto_id: str, job_id: str | None = None) -> dict[str, Any]:
    created = now()
    return {
        "_id": job_id or new_id("job"),
        "tenant": tenant,
        "kind": "pdf_sync",
        "status": "queued",
        "boleto_ids": [boleto_id],
        "jobs": [],
        "error": None,
        "created_at": created,
        "updated_at": created,
    }


class NotIssued(Exception):
    """The charge was never issued (the bank refused it), so it has no PDF to sync."""


@dataclass
class SyncTicket:
    job_id: str
    estimated_seconds: float


class BoletoService:
    def __init__(
        self,
        repo: BoletoRepository,
        relay: OutboxRelay,
        store: ObjectStore,
        limiter: GlobalRateLimiter,
    ) -> None:
        self.repo, self.relay, self.store, self.limiter = repo, relay, store, limiter

    async def create(self, tenant: str, request: BoletoCreate) -> dict[str, Any]:
        boleto_id = new_id("bol")
        job = sync_job(tenant, boleto_id)
        created = now()
        boleto = {
            "_id": boleto_id,
            "tenant": tenant,
            "proposal_id": request.proposal_id,
            "charge": request.charge(),
            "status": "PENDING",
            "inter": {},
            "pdf": {"current": None, "versions": [], "sync_job_id": job["_id"]},
            "issue_attempts": 0,
            "error": None,
            "created_at": created,
            "updated_at": created,
        }
        pending = entry(ChargeIssueRequested(tenant_id=tenant, boleto_id=boleto_id))
        await self.repo.insert({**boleto, "outbox": [pending]}, job)
        await self.flush(boleto_id, [pending])
        log.info("boleto.accepted", boleto_id=boleto_id, proposal_id=request.proposal_id)
        return boleto

    async def request_sync(self, boleto: dict[str, Any]) -> SyncTicket:
        """The sync in flight for this boleto, or a new one: never two at once."""
        if boleto["pdf"].get("sync_job_id"):
            return await self._ticket(boleto["pdf"]["sync_job_id"])
        if not boleto["inter"].get("codigo_solicitacao"):
            raise NotIssued(boleto["_id"])
        job = sync_job(boleto["tenant"], boleto["_id"])
        await self.repo.insert_job(job)
        event = BoletoSyncRequested(
            tenant_id=boleto["tenant"], boleto_id=boleto["_id"], job_id=job["_id"]
        )
        pending = entry(event)
        if not await self.repo.claim_sync(boleto["_id"], job["_id"], pending):
            await self.repo.delete_job(job["_id"])
            current = await self.repo.by_id(boleto["_id"])
            assert current is not None
            return await self.request_sync(current)
        await self.flush(boleto["_id"], [pending])
        return await self._ticket(job["_id"])

    async def _ticket(self, job_id: str) -> SyncTicket:
        queued = await self.repo.queued_syncs()
        waits = [
            await self.limiter.estimated_wait_s(group, queued) for group in SECONDS_PER_SYNC_GROUPS
        ]
        return SyncTicket(job_id, round(max(waits) + 1.0, 1))

    async def sync_proposal(self, tenant: str, proposal_id: str) -> dict[str, Any] | None:
        boletos = await self.repo.of_proposal(tenant, proposal_id)
        if not boletos:
            return None
        children = []
        for boleto in boletos:
            try:
                children.append((await self.request_sync(boleto)).job_id)
            except NotIssued:
                continue
        job = {
            **sync_job(tenant, proposal_id),
            "kind": "proposal_sync",
            "boleto_ids": [b["_id"] for b in boletos],
            "jobs": children,
        }
        await self.repo.insert_job(job)
        return job

    async def job_view(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        job = await self.repo.get_job(tenant, job_id)
        if job is None or job["kind"] != "proposal_sync":
            return job
        children = await self.repo.jobs_by_ids(job["jobs"])
        statuses = {child["status"] for child in children}
        if not children or statuses <= {"completed"}:
            status = "completed"
        elif statuses <= {"completed", "failed"}:
            status = "failed"
        else:
            status = "running" if statuses & {"running", "completed", "failed"} else "queued"
        failures = {c["_id"]: c["error"] for c in children if c["status"] == "failed"}
        updated = max([job["updated_at"], *(c["updated_at"] for c in children)])
        return {
            **job,
            "status": status,
            "error": {"jobs": failures} if failures else None,
            "updated_at": updated,
        }

    async def flush(self, boleto_id: str, entries: list[dict[str, Any]]) -> None:
        try:
            await self.relay.flush(boleto_id, entries)
        except Exception:
            log.warning("boleto.publish_deferred", boleto_id=boleto_id, exc_info=True)

    async def apply_callback(self, item: dict[str, Any]) -> bool:
        """One entry of Inter's webhook array; a changed situacao refreshes a stored PDF."""
        boleto = await self.repo.by_codigo(item["codigoSolicitacao"])
        if boleto is None:
            return False
        if boleto["status"] == item["situacao"]:
            return True
        changes = {
            "status": item["situacao"],
            "situacao_at": item.get("dataHoraSituacao") or datetime.now(UTC).isoformat(),
        }
        await self.repo.update(boleto["_id"], changes)
        if boleto["pdf"].get("current"):
            await self.request_sync({**boleto, **changes})
        log.info("boleto.status_from_bank", boleto_id=boleto["_id"], situacao=item["situacao"])
        return True
