"""A paid conversion's charge: one boleto, hence one charge at the bank, per job and attempt,
however often ``payment.requested`` is delivered. From there the boleto is issued and its PDF
synced as any other (``issuing``, ``pdf_sync``), and ``charge_events`` tells what became of it."""

import hashlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import ValidationError

from boleto_sync.charge_events import failed_entries
from boleto_sync.schemas import BoletoCreate, Mensagem
from boleto_sync.service import sync_job, unissued_boleto
from shared.events import PaymentRequested
from shared.logging import bind_ids
from shared.messaging import Delivery
from shared.payer import Payer

if TYPE_CHECKING:
    from boleto_sync.bootstrap import WorkerDeps

log = structlog.get_logger()


def payment_ids(job_id: str, attempt: int) -> tuple[str, str, str]:
    """The boleto's id, its sync job's and its seuNumero (unique at the bank, 15 characters at
    most), all from the job and attempt: a redelivery names the same boleto."""
    digest = hashlib.sha256(f"{job_id}\0{attempt}".encode()).hexdigest()
    return f"bol_{digest[:24]}", f"job_{digest[24:48]}", f"cv{digest[:13]}"


async def request_payment(event: PaymentRequested, _: Delivery, deps: "WorkerDeps") -> None:
    boleto_id, sync_job_id, seu_numero = payment_ids(event.job_id, event.attempt)
    bind_ids(boleto_id=boleto_id, job_id=event.job_id)
    try:
        charge = payment_charge(event, seu_numero, deps.payment_agenda_days)
    except ValidationError as exc:
        await _refused(event, boleto_id, exc, deps)
        return
    job = sync_job(event.tenant_id, boleto_id, sync_job_id)
    boleto = unissued_boleto(
        event.tenant_id,
        boleto_id,
        charge,
        sync_job_id,
        job_id=event.job_id,
        payment_attempt=event.attempt,
    )
    if await deps.repo.add_once(boleto, job):
        await deps.relay.flush_or_defer(boleto_id, boleto["outbox"])
        log.info("boleto.payment_accepted", boleto_id=boleto_id, attempt=event.attempt)
        return
    existing = await deps.repo.by_id(boleto_id)  # a redelivery: what its writers left behind
    left = deps.relay.left_behind((existing or {}).get("outbox", []))
    await deps.relay.flush_or_defer(boleto_id, left)


def payment_charge(event: PaymentRequested, seu_numero: str, agenda_days: int) -> dict[str, Any]:
    """The bank's charge body; a ValidationError names what the bank would refuse."""
    payer = Payer.model_validate(event.payer)
    request = BoletoCreate(
        seuNumero=seu_numero,
        valorNominal=Decimal(event.amount_cents) / 100,
        dataVencimento=event.due_date,
        numDiasAgenda=agenda_days,
        pagador=payer,
        mensagem=Mensagem(linha1=f"Conversão {event.job_id}"[:78]),
    )
    return request.charge()


async def _refused(
    event: PaymentRequested, boleto_id: str, exc: ValidationError, deps: "WorkerDeps"
) -> None:
    """No boleto: the charge.failed is published at once (a redelivery publishes it again
    under the same event id, which consumers dedupe)."""
    code = "invalid_payer" if _payer_error(exc) else "invalid_charge"
    message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    about = {"_id": boleto_id, "tenant": event.tenant_id, "job_id": event.job_id}
    failed = failed_entries(about, code, message, event_id=f"{boleto_id}.{code}")
    await deps.relay.flush(boleto_id, failed)
    log.warning("boleto.payment_refused", boleto_id=boleto_id, code=code, reason=message)


def _payer_error(exc: ValidationError) -> bool:
    return exc.title == Payer.__name__ or all(e["loc"][:1] == ("pagador",) for e in exc.errors())


async def payment_gave_up(event: PaymentRequested, reason: str, deps: "WorkerDeps") -> None:
    """A payment request that ran out of attempts before its boleto was written (the database
    down throughout, say) fails its payment, so the job does not wait for ever; a boleto that
    was written goes on through its own issue (which reports its failure itself)."""
    boleto_id, _, _ = payment_ids(event.job_id, event.attempt)
    if await deps.repo.by_id(boleto_id) is not None:
        return
    about = {"_id": boleto_id, "tenant": event.tenant_id, "job_id": event.job_id}
    failed = failed_entries(about, "request_failed", reason, event_id=f"{boleto_id}.gave_up")
    await deps.relay.flush(boleto_id, failed)
    log.warning("boleto.payment_gave_up", boleto_id=boleto_id, reason=reason[:300])
