"""A paid job's payment follows boleto-sync's events; each handler is one conditional write,
so a redelivered or reordered event changes nothing it should not.

The events of a boleto that is not the job's current one (an earlier, failed attempt) are
refused, except its payment: money the bank confirmed always releases the result.
"""

import structlog

from shared.events import ChargeCancelled, ChargeFailed, ChargePaid, PaymentPending
from shared.messaging import Delivery
from upload.payment import boleto_key_owned
from upload.payment_repository import PaymentRepository

log = structlog.get_logger()


async def payment_pending(event: PaymentPending, _: Delivery, payments: PaymentRepository) -> None:
    if not boleto_key_owned(event.pdf_key, event.tenant_id, event.boleto_id):
        log.error("payment.boleto_key_refused", job_id=event.job_id, pdf_key=event.pdf_key[:300])
        return
    issued = {
        "payment.boleto_id": event.boleto_id,
        "payment.charge_id": event.charge_id,
        "payment.pix_copia_e_cola": event.pix_copia_e_cola,
        "payment.linha_digitavel": event.linha_digitavel,
        "payment.due_date": event.due_date.isoformat(),
        "payment.pdf_key": event.pdf_key,
    }
    # any status: a charge paid, expired or failed before its announcement keeps its outcome
    statuses = ["pending", "paid", "expired", "cancelled", "failed"]
    if not await payments.record_bank_news(
        event.job_id, event.tenant_id, issued, boleto_id=event.boleto_id, statuses=statuses
    ):
        log.warning("payment.pending_not_recorded", job_id=event.job_id, boleto_id=event.boleto_id)


async def charge_paid(event: ChargePaid, _: Delivery, payments: PaymentRepository) -> None:
    if event.job_id is None:
        return  # a charge of no conversion
    paid = {"payment.status": "paid", "payment.paid_at": event.paid_at, "payment.error": None}
    tied = {"payment.boleto_id": event.boleto_id, "payment.charge_id": event.charge_id}
    job_id, tenant = event.job_id, event.tenant_id
    if await payments.record_bank_news(job_id, tenant, paid | tied, boleto_id=event.boleto_id):
        log.info("payment.paid", job_id=job_id, boleto_id=event.boleto_id)
    elif await payments.record_bank_news(job_id, tenant, paid, boleto_id=None):
        log.info("payment.paid_by_earlier_charge", job_id=job_id, boleto_id=event.boleto_id)


async def charge_cancelled(
    event: ChargeCancelled, _: Delivery, payments: PaymentRepository
) -> None:
    if event.job_id is None:
        return
    status = "expired" if event.situacao == "EXPIRADO" else "cancelled"
    ended = {
        "payment.status": status,
        "payment.boleto_id": event.boleto_id,
        "payment.charge_id": event.charge_id,
    }
    if await payments.record_bank_news(
        event.job_id, event.tenant_id, ended, boleto_id=event.boleto_id, statuses=["pending"]
    ):
        log.info("payment.ended", job_id=event.job_id, status=status)


async def charge_failed(event: ChargeFailed, _: Delivery, payments: PaymentRepository) -> None:
    if event.job_id is None:
        return
    failed = {
        "payment.status": "failed",
        "payment.boleto_id": event.boleto_id,
        "payment.error": {"code": event.code, "message": event.message},
    }
    if await payments.record_bank_news(
        event.job_id, event.tenant_id, failed, boleto_id=event.boleto_id, statuses=["pending"]
    ):
        log.info("payment.failed", job_id=event.job_id, code=event.code)
