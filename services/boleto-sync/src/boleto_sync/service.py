"""Decisions behind the boleto API: accept a charge, serve a PDF or start its sync (at most one
at a time), proposals, jobs and the bank's callbacks (hints the worker checks with the bank).
It never calls the bank."""

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog

from boleto_sync.check_repository import BankCheckRepository
from boleto_sync.hints import request_checks
from boleto_sync.outbox import entry
from boleto_sync.repository import BoletoRepository
from boleto_sync.schemas import BoletoCreate
from shared.caching import DocumentCache, Entry
from shared.clock import now
from shared.events import BoletoSyncRequested, ChargeIssueRequested
from shared.logging import bind_ids
from shared.messaging import OutboxRelay
from shared.ratelimit.gcra import GlobalRateLimiter
from shared.storage import ObjectStore

log = structlog.get_logger()
SECONDS_PER_SYNC_GROUPS = ("get", "pdf")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


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


async def start_sync(
    repo: BoletoRepository, relay: OutboxRelay, boleto: dict[str, Any]
) -> str | None:
    """A new sync job of an issued boleto, unless one is in flight: its id, or None."""
    job = sync_job(boleto["tenant"], boleto["_id"])
    await repo.add_job(job)
    event = BoletoSyncRequested(
        tenant_id=boleto["tenant"], boleto_id=boleto["_id"], job_id=job["_id"]
    )
    pending = entry(event)
    if not await repo.claim_sync(boleto["_id"], job["_id"], pending):
        await repo.remove_job(job["_id"])
        return None
    await relay.flush_or_defer(boleto["_id"], [pending])
    return str(job["_id"])


def unissued_boleto(
    tenant: str, boleto_id: str, charge: dict[str, Any], sync_job_id: str, **fields: Any
) -> dict[str, Any]:
    """A boleto the bank is yet to issue, with its ChargeIssueRequested in its outbox; its
    creation's PDF sync is ``sync_job_id``. ``fields`` say what it is for (proposal, job)."""
    created = now()
    issue = ChargeIssueRequested(tenant_id=tenant, boleto_id=boleto_id)
    return {
        "_id": boleto_id,
        "tenant": tenant,
        "proposal_id": None,
        **fields,
        "charge": charge,
        "status": "PENDING",
        "inter": {},
        "pdf": {"current": None, "versions": [], "sync_job_id": sync_job_id},
        "issue_attempts": 0,
        "error": None,
        "created_at": created,
        "updated_at": created,
        "outbox": [entry(issue)],
    }


class NotIssued(Exception):
    """The charge was never issued (the bank refused it), so it has no PDF to sync."""

    def __init__(self, boleto_id: str, error: dict[str, Any] | None) -> None:
        super().__init__(boleto_id)
        self.error = error


@dataclass
class SyncTicket:
    job_id: str
    estimated_seconds: float


@dataclass
class StoredPdf:
    version: int
    sha256: str
    size: int
    content: AsyncIterator[bytes]


class BoletoService:
    def __init__(
        self,
        repo: BoletoRepository,
        relay: OutboxRelay,
        store: ObjectStore,
        limiter: GlobalRateLimiter,
        cache: DocumentCache | None = None,
        checks: BankCheckRepository | None = None,
    ) -> None:
        self._repo, self._relay, self._store, self._limiter = repo, relay, store, limiter
        self._cache, self._checks = cache, checks

    async def create(self, tenant: str, request: BoletoCreate) -> dict[str, Any]:
        boleto_id = new_id("bol")
        job = sync_job(tenant, boleto_id)
        bind_ids(boleto_id=boleto_id, job_id=job["_id"])
        boleto = unissued_boleto(
            tenant, boleto_id, request.charge(), job["_id"], proposal_id=request.proposal_id
        )
        await self._repo.add(boleto, job)
        await self._relay.flush_or_defer(boleto_id, boleto["outbox"])
        log.info("boleto.accepted", boleto_id=boleto_id, proposal_id=request.proposal_id)
        return boleto

    async def get(self, tenant: str, boleto_id: str) -> dict[str, Any] | None:
        return await self._repo.get(tenant, boleto_id)

    async def view(self, tenant: str, boleto_id: str) -> Entry | None:
        """The boleto rendered, from the replica's cache (the API's read path)."""
        assert self._cache is not None, "views are served by the API, which keeps a cache"
        entry = await self._cache.get(boleto_id)
        return entry if entry is not None and entry.doc["tenant"] == tenant else None

    async def pdf(self, tenant: str, boleto_id: str) -> StoredPdf | SyncTicket | None:
        """The stored PDF, or else the sync that will fetch it (started unless one runs)."""
        boleto = await self._repo.get(tenant, boleto_id)
        if boleto is None:
            return None
        current = boleto["pdf"].get("current")
        if not current:
            return await self._request_sync(boleto)
        content = self._store.read(current["key"])
        return StoredPdf(current["version"], current["sha256"], current["size"], content)

    async def sync_proposal(self, tenant: str, proposal_id: str) -> dict[str, Any] | None:
        boletos = await self._repo.of_proposal(tenant, proposal_id)
        if not boletos:
            return None
        children = []
        for boleto in boletos:
            try:
                children.append((await self._request_sync(boleto)).job_id)
            except NotIssued:
                continue
        job = {
            **sync_job(tenant, proposal_id),
            "kind": "proposal_sync",
            "boleto_ids": [b["_id"] for b in boletos],
            "jobs": children,
        }
        await self._repo.add_job(job)
        return job

    async def job_view(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        job = await self._repo.get_job(tenant, job_id)
        if job is None or job["kind"] != "proposal_sync":
            return job
        children = await self._repo.jobs_by_ids(job["jobs"])
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

    async def rate_limit_stats(self) -> dict[str, Any]:
        return {
            "groups": await self._limiter.stats(),
            "queued_syncs": await self._repo.queued_syncs(),
        }

    async def apply_callbacks(self, items: list[dict[str, Any]]) -> int:
        """Inter's webhook array, taken as hints only: a charge whose reported situacao differs
        from ours is checked with the bank by the worker. Returns how many will be checked."""
        assert self._checks is not None, "callbacks are received by the API, which checks them"
        return await request_checks(self._repo, self._checks, items, "callback")

    async def _request_sync(self, boleto: dict[str, Any]) -> SyncTicket:
        """The sync in flight for this boleto, or a new one: never two at once."""
        if boleto["pdf"].get("sync_job_id"):
            return await self._ticket(boleto["pdf"]["sync_job_id"])
        if not boleto["inter"].get("codigo_solicitacao"):
            raise NotIssued(boleto["_id"], boleto.get("error"))
        job_id = await start_sync(self._repo, self._relay, boleto)
        if job_id is None:
            current = await self._repo.by_id(boleto["_id"])
            assert current is not None
            return await self._request_sync(current)
        return await self._ticket(job_id)

    async def _ticket(self, job_id: str) -> SyncTicket:
        queued = await self._repo.queued_syncs()
        waits = [
            await self._limiter.estimated_wait_s(group, queued) for group in SECONDS_PER_SYNC_GROUPS
        ]
        return SyncTicket(job_id, round(max(waits) + 1.0, 1))
