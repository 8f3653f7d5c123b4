"""The outbox entries that tell the platform what became of a charge: pending (how to pay
it), paid, cancelled or failed. Each is written in the guarded update that makes the change it
announces, so only the writer that made the change announces it."""

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from boleto_sync.outbox import entry
from shared.clock import now
from shared.events import ChargeCancelled, ChargeFailed, ChargePaid, PaymentPending

PAID = frozenset({"RECEBIDO", "MARCADO_RECEBIDO"})
CANCELLED = frozenset({"EXPIRADO", "CANCELADO"})
BRASILIA = timezone(timedelta(hours=-3))  # the bank's dates are Brasília's (no DST since 2019)


def transition_entries(
    boleto: dict[str, Any], codigo: str, cobranca: dict[str, Any]
) -> list[dict[str, Any]]:
    """ChargePaid or ChargeCancelled when the bank's situacao moves the boleto into paid or
    cancelled; nothing within a class (RECEBIDO then MARCADO_RECEBIDO is still one payment)."""
    situacao, was = cobranca.get("situacao"), boleto["status"]
    ids = {
        "tenant_id": boleto["tenant"],
        "boleto_id": boleto["_id"],
        "job_id": boleto.get("job_id"),
        "charge_id": codigo,
    }
    if situacao in PAID and was not in PAID:
        moment = _moment(cobranca.get("dataSituacao"))
        return [entry(ChargePaid(**ids, situacao=situacao, paid_at=moment))]
    if situacao in CANCELLED and was not in CANCELLED:
        return [entry(ChargeCancelled(**ids, situacao=situacao))]
    return []


def failed_entries(
    boleto: dict[str, Any], code: str, message: str, event_id: str | None = None
) -> list[dict[str, Any]]:
    """ChargeFailed, for a paid conversion's boleto only (a plain boleto's client polls it)."""
    if not boleto.get("job_id"):
        return []
    failed = ChargeFailed(
        tenant_id=boleto["tenant"],
        boleto_id=boleto["_id"],
        job_id=boleto["job_id"],
        code=code,
        message=message[:500],
    )
    return [entry(failed, event_id)]


def pending_entries(
    boleto: dict[str, Any], codigo: str, charge: dict[str, Any], pdf_key: str
) -> list[dict[str, Any]]:
    """PaymentPending, when a paid conversion's boleto gets its first PDF: how to pay it."""
    if not boleto.get("job_id") or boleto["pdf"]["versions"]:
        return []
    terms = boleto["charge"]
    pending = PaymentPending(
        tenant_id=boleto["tenant"],
        job_id=boleto["job_id"],
        boleto_id=boleto["_id"],
        charge_id=codigo,
        amount_cents=round(float(terms["valorNominal"]) * 100),
        due_date=date.fromisoformat(terms["dataVencimento"]),
        pix_copia_e_cola=(charge.get("pix") or {}).get("pixCopiaECola"),
        linha_digitavel=(charge.get("boleto") or {}).get("linhaDigitavel"),
        pdf_key=pdf_key,
    )
    return [entry(pending)]


def _moment(text: Any) -> datetime:
    """The bank's dataSituacao as a moment: a bare date of today is now, an earlier one its
    midnight in Brasília; anything unreadable is now."""
    if not isinstance(text, str):
        return now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return now()
    if len(text) == len("2026-01-31") and moment.date() >= now().astimezone(BRASILIA).date():
        return now()
    return moment if moment.tzinfo else moment.replace(tzinfo=BRASILIA).astimezone(UTC)
