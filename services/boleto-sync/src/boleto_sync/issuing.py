"""Issuing a charge at the bank exactly once, though an answer may be lost on the way."""

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from boleto_sync.bank_reports import listed_charges
from boleto_sync.charge_events import failed_entries
from boleto_sync.fair_share import on_behalf_of
from boleto_sync.inter.client import PROCESSING, InterClient
from boleto_sync.inter.errors import InterDuplicate, InterRejected, InterUnavailable
from boleto_sync.outbox import entry
from boleto_sync.payments import payment_gave_up
from boleto_sync.repository import PAYER
from shared.events import (
    BoletoSyncRequested,
    ChargeIssued,
    ChargeIssueRequested,
    Event,
    PaymentRequested,
)
from shared.logging import bind_ids
from shared.messaging import Delivery, PermanentError

if TYPE_CHECKING:
    from boleto_sync.bootstrap import WorkerDeps

log = structlog.get_logger()


async def issue_charge(event: ChargeIssueRequested, delivery: Delivery, deps: "WorkerDeps") -> None:
    on_behalf_of(event.tenant_id)  # its bank calls count against the tenant's fair share
    if delivery.replayed:  # an operator put the request back after giving up on it
        await deps.repo.reopen_issue(event.boleto_id)
    boleto = await deps.repo.start_issue(event.boleto_id)
    if boleto is None:
        raise PermanentError(f"unknown boleto {event.boleto_id}")
    bind_ids(job_id=boleto["pdf"].get("sync_job_id"))  # the job the boleto's creation started
    if boleto["inter"].get("codigo_solicitacao") or boleto["status"] == "FAILED":
        left = deps.relay.left_behind(boleto.get("outbox", []))
        await deps.relay.flush_or_defer(boleto["_id"], left)
        return
    try:
        codigo = await _issue_once(boleto, deps.inter)
    except InterDuplicate:
        # the bank already has this charge: an earlier attempt made it, its answer was lost
        codigo = await _lookup_issued(boleto, deps.inter) or await _not_found_yet(boleto)
    except InterRejected as exc:
        await _issue_refused(boleto, exc, deps)
        return
    entries = issued_entries(boleto, codigo, PROCESSING, boleto["pdf"]["sync_job_id"])
    issued = {"inter.codigo_solicitacao": codigo, "status": PROCESSING}
    await deps.repo.update(boleto["_id"], issued, entries, forget=(PAYER,))  # the bank has it
    await deps.relay.flush_or_defer(boleto["_id"], entries)
    log.info("boleto.issued", boleto_id=boleto["_id"], codigo=codigo)


def issued_entries(
    boleto: dict[str, Any], codigo: str, situacao: str, sync_job: str
) -> list[dict[str, Any]]:
    """The outbox entries of a charge the bank holds: ChargeIssued, then its PDF's sync."""
    issued = ChargeIssued(
        tenant_id=boleto["tenant"],
        boleto_id=boleto["_id"],
        proposal_id=boleto.get("proposal_id"),
        codigo_solicitacao=codigo,
        situacao=situacao,
    )
    sync = BoletoSyncRequested(tenant_id=boleto["tenant"], boleto_id=boleto["_id"], job_id=sync_job)
    return [entry(issued), entry(sync)]


async def _issue_once(boleto: dict[str, Any], inter: InterClient) -> str:
    """Issue, unless an earlier attempt (its answer lost) already did: never two charges."""
    if boleto["issue_attempts"] > 1 and (found := await _lookup_issued(boleto, inter)):
        log.info("boleto.issue_recovered", boleto_id=boleto["_id"], codigo=found)
        return found
    return await inter.issue(boleto["charge"])


async def _not_found_yet(boleto: dict[str, Any]) -> str:
    raise InterUnavailable(
        f"the bank reports {boleto['_id']} as a duplicate but lists no such charge"
    )


async def _lookup_issued(boleto: dict[str, Any], inter: InterClient) -> str | None:
    """The charge an earlier attempt made, found by its seuNumero among every page the bank
    lists for the days since the boleto was created."""
    async for found in listed_charges(
        inter, issued_since(boleto["created_at"], boleto["charge"]["seuNumero"])
    ):
        if found.get("seuNumero") == boleto["charge"]["seuNumero"]:
            return str(found["codigoSolicitacao"])
    return None


def issued_since(created: datetime, seu_numero: str | None = None) -> dict[str, Any]:
    """The list filters of charges issued from the day before ``created`` on."""
    params: dict[str, Any] = {
        "dataInicial": (created.date() - timedelta(days=1)).isoformat(),
        "dataFinal": (date.today() + timedelta(days=1)).isoformat(),
        "filtrarDataPor": "EMISSAO",
    }
    return params | ({"seuNumero": seu_numero} if seu_numero else {})


async def _issue_refused(boleto: dict[str, Any], exc: InterRejected, deps: "WorkerDeps") -> None:
    error = {"code": "inter_rejected", "message": str(exc), "violations": exc.violations}
    await _fail(boleto, error, deps)
    await deps.repo.set_job(boleto["pdf"]["sync_job_id"], "failed", error)
    log.warning("boleto.issue_refused", boleto_id=boleto["_id"], error=str(exc))


async def issue_gave_up(event: Event, reason: str, deps: "WorkerDeps") -> None:
    """After the retry budget: the boleto fails with the reason, unless it was issued."""
    if isinstance(event, PaymentRequested):
        await payment_gave_up(event, reason, deps)
        return
    if not isinstance(event, ChargeIssueRequested):
        return
    boleto = await deps.repo.by_id(event.boleto_id)
    if boleto is None or boleto["inter"].get("codigo_solicitacao"):
        return
    error = {"code": "issue_failed", "message": reason[:500]}
    # no charge is known to exist: a later issue attempt first looks for one (see _issue_once)
    await _fail(boleto, error, deps)
    if boleto["pdf"].get("sync_job_id"):
        await deps.repo.set_job(boleto["pdf"]["sync_job_id"], "failed", error)


async def _fail(boleto: dict[str, Any], error: dict[str, Any], deps: "WorkerDeps") -> None:
    """The boleto failed, announced (charge.failed) by the update that fails it: only once."""
    failed = failed_entries(boleto, error["code"], error["message"])
    changes = {"status": "FAILED", "error": error, "pdf.sync_job_id": None}
    only_if = {"status": {"$ne": "FAILED"}, "inter.codigo_solicitacao": None}
    if await deps.repo.update(boleto["_id"], changes, failed, only_if):
        await deps.relay.flush_or_defer(boleto["_id"], failed)
