"""Syncing a boleto's PDF from the bank into versioned storage, once per sync job."""

import asyncio
import hashlib
import time
from typing import TYPE_CHECKING, Any

import structlog

from boleto_sync.charge_events import failed_entries, pending_entries, transition_entries
from boleto_sync.fair_share import on_behalf_of
from boleto_sync.inter.client import ISSUE_FAILED, PROCESSING
from boleto_sync.inter.errors import InterError, InterRejected
from boleto_sync.outbox import entry
from shared.clock import now
from shared.events import BoletoSynced, BoletoSyncFailed, BoletoSyncRequested, Event
from shared.messaging import Delivery, PermanentError

if TYPE_CHECKING:
    from boleto_sync.bootstrap import WorkerDeps

log = structlog.get_logger()


async def sync_pdf(event: BoletoSyncRequested, delivery: Delivery, deps: "WorkerDeps") -> None:
    on_behalf_of(event.tenant_id)  # its bank calls count against the tenant's fair share
    if delivery.replayed:  # an operator put the request back after giving up on it
        await deps.repo.reclaim_sync(event.boleto_id, event.job_id)
    boleto = await deps.repo.by_id(event.boleto_id)
    if boleto is None:
        raise PermanentError(f"unknown boleto {event.boleto_id}")
    if (
        any(v.get("job_id") == event.job_id for v in boleto["pdf"]["versions"])
        or boleto["pdf"].get("sync_job_id") != event.job_id
    ):
        left = deps.relay.left_behind(boleto.get("outbox", []))
        await deps.relay.flush_or_defer(boleto["_id"], left)
        await _settle_job(event.job_id, boleto, deps)
        return
    await deps.repo.set_job(event.job_id, "running")
    try:
        charge = await _charge_when_issued(boleto["inter"]["codigo_solicitacao"], deps)
        if charge["cobranca"]["situacao"] == ISSUE_FAILED:
            await _bank_failed(boleto, deps)
            await sync_failed(event, "the bank failed to issue the charge (FALHA_EMISSAO)", deps)
            return
        pdf = await deps.inter.pdf(boleto["inter"]["codigo_solicitacao"])
    except InterRejected as exc:
        await sync_failed(event, f"the bank refused: {exc}", deps)
        return
    await _store_version(boleto, event, charge, pdf, deps)


async def _bank_failed(boleto: dict[str, Any], deps: "WorkerDeps") -> None:
    failed = failed_entries(boleto, "issue_failed", "the bank failed to issue the charge")
    only_if = {"status": boleto["status"]}
    if await deps.repo.update(boleto["_id"], {"status": ISSUE_FAILED}, failed, only_if):
        await deps.relay.flush_or_defer(boleto["_id"], failed)


async def _charge_when_issued(codigo: str, deps: "WorkerDeps") -> dict[str, Any]:
    deadline = time.monotonic() + deps.processing_timeout_s
    while True:
        charge = await deps.inter.get(codigo)
        if charge["cobranca"].get("situacao") != PROCESSING:
            return charge
        if time.monotonic() > deadline:
            raise InterError(
                f"the charge is still {PROCESSING} after {deps.processing_timeout_s:g} s"
            )
        await asyncio.sleep(deps.processing_poll_s)


async def _store_version(
    boleto: dict[str, Any],
    event: BoletoSyncRequested,
    charge: dict[str, Any],
    pdf: bytes,
    deps: "WorkerDeps",
) -> None:
    version_number = len(boleto["pdf"]["versions"]) + 1
    sha256 = hashlib.sha256(pdf).hexdigest()
    key = f"{boleto['tenant']}/boletos/{boleto['_id']}/v{version_number}-{sha256[:12]}.pdf"
    writer = deps.store.writer(key)
    writer.write(pdf)
    await writer.commit()
    version = {
        "version": version_number,
        "key": key,
        "sha256": sha256,
        "size": len(pdf),
        "synced_at": now(),
        "job_id": event.job_id,
    }
    synced = BoletoSynced(
        tenant_id=boleto["tenant"],
        boleto_id=boleto["_id"],
        job_id=event.job_id,
        pdf_version=version_number,
        sha256=sha256,
        size=len(pdf),
    )
    codigo = boleto["inter"]["codigo_solicitacao"]
    entries = [entry(synced), *pending_entries(boleto, codigo, charge, key)]
    await _add_version(boleto, event.job_id, version, charge, entries, deps)
    await deps.repo.set_job(event.job_id, "completed")
    log.info("boleto.synced", boleto_id=boleto["_id"], version=version_number, size=len(pdf))


async def _add_version(
    boleto: dict[str, Any],
    job_id: str,
    version: dict[str, Any],
    charge: dict[str, Any],
    entries: list[dict[str, Any]],
    deps: "WorkerDeps",
) -> None:
    """The version stored with the bank's answer, and the status it brings announced, unless
    a check changed the status meanwhile: then the check's newer answer (announced by it)
    stays and the version is stored without a status."""
    codigo = boleto["inter"]["codigo_solicitacao"]
    fields = charge_fields(charge)
    moved = transition_entries(boleto, codigo, charge["cobranca"])
    status = {"status": boleto["status"]}
    if await deps.repo.add_version(
        boleto["_id"], job_id, version, fields, entries + moved, only_if=status
    ):
        await deps.relay.flush_or_defer(boleto["_id"], entries + moved)
        return
    fields.pop("status", None)
    if await deps.repo.add_version(boleto["_id"], job_id, version, fields, entries):
        await deps.relay.flush_or_defer(boleto["_id"], entries)


def charge_fields(charge: dict[str, Any]) -> dict[str, Any]:
    """What the bank told us, without blanking what a partial answer leaves out."""
    cobranca, boleto, pix = charge["cobranca"], charge.get("boleto") or {}, charge.get("pix") or {}
    fields = {
        "status": cobranca.get("situacao"),
        "inter.nosso_numero": boleto.get("nossoNumero"),
        "inter.codigo_barras": boleto.get("codigoBarras"),
        "inter.linha_digitavel": boleto.get("linhaDigitavel"),
        "inter.txid": pix.get("txid"),
        "inter.pix_copia_e_cola": pix.get("pixCopiaECola"),
    }
    return {key: value for key, value in fields.items() if value is not None}


async def _settle_job(job_id: str, boleto: dict[str, Any], deps: "WorkerDeps") -> None:
    """A redelivered sync whose outcome is already in the boleto: bring the job record level."""
    done = any(v.get("job_id") == job_id for v in boleto["pdf"]["versions"])
    await deps.repo.set_job(
        job_id,
        "completed" if done else "failed",
        None if done else {"code": "superseded", "message": "another sync replaced it"},
    )


async def sync_failed(event: Event, reason: str, deps: "WorkerDeps") -> None:
    """After the retry budget, or a refusal: the job fails with a reason, nothing is lost."""
    if not isinstance(event, BoletoSyncRequested):
        return
    error = {"code": "sync_failed", "message": reason[:500]}
    failed = BoletoSyncFailed(
        tenant_id=event.tenant_id,
        boleto_id=event.boleto_id,
        job_id=event.job_id,
        code="sync_failed",
        message=reason[:500],
    )
    pending = entry(failed)
    if await deps.repo.update(
        event.boleto_id,
        {"pdf.sync_job_id": None, "pdf.last_error": error},
        [pending],
        only_if={"pdf.sync_job_id": event.job_id},
    ):
        await deps.relay.flush_or_defer(event.boleto_id, [pending])
    await deps.repo.set_job(event.job_id, "failed", error)
    log.warning("boleto.sync_failed", boleto_id=event.boleto_id, job_id=event.job_id, reason=reason)
