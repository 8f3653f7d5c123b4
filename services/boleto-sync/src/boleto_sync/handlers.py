"""Worker decisions: issue a charge once, and sync a boleto's PDF into versioned storage."""

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog

from boleto_sync.inter.client import InterClient
from boleto_sync.inter.errors import InterDuplicate, InterError, InterRejected, InterUnavailable
from boleto_sync.repository import BoletoRepository, now
from boleto_sync.service import BoletoService, entry
from shared.events import (
    BoletoSynced,
    BoletoSyncFailed,
    BoletoSyncRequested,
    ChargeIssued,
    ChargeIssueRequested,
    Event,
)
from shared.messaging import Delivery, PermanentError

log = structlog.get_logger()
PROCESSING = "EM_PROCESSAMENTO"
ISSUE_FAILED = "FALHA_EMISSAO"


@dataclass
class WorkerDeps:
    service: BoletoService
    inter: InterClient
    processing_poll_s: float
    processing_timeout_s: float

    @property
    def repo(self) -> BoletoRepository:
        return self.service.repo


async def issue_charge(event: ChargeIssueRequested, delivery: Delivery, deps: WorkerDeps) -> None:
    boleto = await deps.repo.start_issue(event.boleto_id)
    if boleto is None:
        raise PermanentError(f"unknown boleto {event.boleto_id}")
    if boleto["inter"].get("codigo_solicitacao") or boleto["status"] == "FAILED":
        await deps.service.flush(boleto["_id"], boleto.get("outbox", []))
        return
    try:
        codigo = await _issue_once(boleto, deps.inter)
    except InterDuplicate:
        # the bank already has this charge: an earlier attempt made it, its answer was lost
        codigo = await _find_issued(boleto, deps.inter) or await _not_found_yet(boleto)
    except InterRejected as exc:
        await _issue_refused(boleto, exc, deps)
        return
    sync_job = boleto["pdf"]["sync_job_id"]
    issued = ChargeIssued(
        tenant_id=boleto["tenant"],
        boleto_id=boleto["_id"],
        proposal_id=boleto.get("proposal_id"),
        codigo_solicitacao=codigo,
        situacao=PROCESSING,
    )
    sync = BoletoSyncRequested(tenant_id=boleto["tenant"], boleto_id=boleto["_id"], job_id=sync_job)
    entries = [entry(issued), entry(sync)]
    await deps.repo.update(
        boleto["_id"], {"inter.codigo_solicitacao": codigo, "status": PROCESSING}, entries
    )
    await deps.service.flush(boleto["_id"], entries)
    log.info("boleto.issued", boleto_id=boleto["_id"], codigo=codigo)


async def _issue_once(boleto: dict[str, Any], inter: InterClient) -> str:
    """Issue, unless an earlier attempt (its answer lost) already did: never two charges."""
    if boleto["issue_attempts"] > 1 and (found := await _find_issued(boleto, inter)):
        log.info("boleto.issue_recovered", boleto_id=boleto["_id"], codigo=found)
        return found
    return await inter.issue(boleto["charge"])


async def _not_found_yet(boleto: dict[str, Any]) -> str:
    raise InterUnavailable(
        f"the bank reports {boleto['_id']} as a duplicate but lists no such charge"
    )


async def _find_issued(boleto: dict[str, Any], inter: InterClient) -> str | None:
    created: datetime = boleto["created_at"]
    params = {
        "dataInicial": (created.date() - timedelta(days=1)).isoformat(),
        "dataFinal": (date.today() + timedelta(days=1)).isoformat(),
        "filtrarDataPor": "EMISSAO",
        "paginacao.itensPorPagina": 1000,
    }
    page = await inter.list(params)
    for charge in page.get("cobrancas") or []:
        found = charge.get("cobranca", charge)
        if found.get("seuNumero") == boleto["charge"]["seuNumero"]:
            return str(found["codigoSolicitacao"])
    return None


async def _issue_refused(boleto: dict[str, Any], exc: InterRejected, deps: WorkerDeps) -> None:
    error = {"code": "inter_rejected", "message": str(exc), "violations": exc.violations}
    await deps.repo.update(
        boleto["_id"], {"status": "FAILED", "error": error, "pdf.sync_job_id": None}
    )
    await deps.repo.set_job(boleto["pdf"]["sync_job_id"], "failed", error)
    log.warning("boleto.issue_refused", boleto_id=boleto["_id"], error=str(exc))


async def sync_pdf(event: BoletoSyncRequested, delivery: Delivery, deps: WorkerDeps) -> None:
    boleto = await deps.repo.by_id(event.boleto_id)
    if boleto is None:
        raise PermanentError(f"unknown boleto {event.boleto_id}")
    if (
        any(v.get("job_id") == event.job_id for v in boleto["pdf"]["versions"])
        or boleto["pdf"].get("sync_job_id") != event.job_id
    ):
        await deps.service.flush(boleto["_id"], boleto.get("outbox", []))
        await _settle_job(event.job_id, boleto, deps)
        return
    await deps.repo.set_job(event.job_id, "running")
    try:
        charge = await _charge_when_issued(boleto["inter"]["codigo_solicitacao"], deps)
        if charge["cobranca"]["situacao"] == ISSUE_FAILED:
            await deps.repo.update(boleto["_id"], {"status": ISSUE_FAILED})
            await sync_failed(event, "the bank failed to issue the charge (FALHA_EMISSAO)", deps)
            return
        pdf = await deps.inter.pdf(boleto["inter"]["codigo_solicitacao"])
    except InterRejected as exc:
        await sync_failed(event, f"the bank refused: {exc}", deps)
        return
    await _store_version(boleto, event, charge, pdf, deps)


async def _charge_when_issued(codigo: str, deps: WorkerDeps) -> dict[str, Any]:
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
    deps: WorkerDeps,
) -> None:
    version_number = len(boleto["pdf"]["versions"]) + 1
    sha256 = hashlib.sha256(pdf).hexdigest()
    key = f"{boleto['tenant']}/boletos/{boleto['_id']}/v{version_number}-{sha256[:12]}.pdf"
    writer = deps.service.store.writer(key)
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
    pending = entry(synced)
    if await deps.repo.add_version(
        boleto["_id"], event.job_id, version, _charge_fields(charge), pending
    ):
        await deps.service.flush(boleto["_id"], [pending])
    await deps.repo.set_job(event.job_id, "completed")
    log.info("boleto.synced", boleto_id=boleto["_id"], version=version_number, size=len(pdf))


def _charge_fields(charge: dict[str, Any]) -> dict[str, Any]:
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


async def _settle_job(job_id: str, boleto: dict[str, Any], deps: WorkerDeps) -> None:
    """A redelivered sync whose outcome is already in the boleto: bring the job record level."""
    done = any(v.get("job_id") == job_id for v in boleto["pdf"]["versions"])
    await deps.repo.set_job(
        job_id,
        "completed" if done else "failed",
        None if done else {"code": "superseded", "message": "another sync replaced it"},
    )


async def sync_failed(event: Event, reason: str, deps: WorkerDeps) -> None:
    """After the retry budget, or a refusal: the job fails with a reason, nothing is lost."""
    if not isinstance(event, BoletoSyncRequested):
        if isinstance(event, ChargeIssueRequested):
            await _issue_gave_up(event, reason, deps)
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
        await deps.service.flush(event.boleto_id, [pending])
    await deps.repo.set_job(event.job_id, "failed", error)
    log.warning("boleto.sync_failed", boleto_id=event.boleto_id, job_id=event.job_id, reason=reason)


async def _issue_gave_up(event: ChargeIssueRequested, reason: str, deps: WorkerDeps) -> None:
    boleto = await deps.repo.by_id(event.boleto_id)
    if boleto is None or boleto["inter"].get("codigo_solicitacao"):
        return
    error = {"code": "issue_failed", "message": reason[:500]}
    # no charge is known to exist: a later issue attempt first looks for one (see _issue_once)
    await deps.repo.update(
        boleto["_id"], {"status": "FAILED", "error": error, "pdf.sync_job_id": None}
    )
    if boleto["pdf"].get("sync_job_id"):
        await deps.repo.set_job(boleto["pdf"]["sync_job_id"], "failed", error)
