"""Each event's e-mail: what a paid conversion's payer reads, and the plain ones."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from notifier.cloudevent import structured
from notifier.delivery.texts import reais, render
from shared.events import ChargeCancelled, ChargeFailed, Event
from tests.support.notifier import charge_paid, completed, payment_pending

API = "https://api.example.com/"
JOB = "cv_123"
CONVERSION = "https://api.example.com/v1/conversions/cv_123"


def mail(event: Event) -> tuple[str, str]:
    body, _ = structured(event, "ev_1", datetime.now(UTC))
    document: dict[str, Any] = json.loads(body)
    return render(document, API)


@pytest.mark.parametrize(
    "cents, text",
    [(990, "R$ 9,90"), (5, "R$ 0,05"), (100, "R$ 1,00"), (123456789, "R$ 1.234.567,89")],
)
def test_amounts_in_reais(cents: int, text: str) -> None:
    assert reais(cents) == text


def test_a_free_completion_says_download_it_now() -> None:
    subject, text = mail(completed("t", JOB))
    assert subject == f"Conversion {JOB} completed"
    assert f"{CONVERSION}/result" in text and "paid" not in text


def test_a_paid_completion_says_it_is_released_once_paid() -> None:
    subject, text = mail(completed("t", JOB).model_copy(update={"payment_required": True}))
    assert subject == f"Conversion {JOB} completed: result released once paid"
    assert "released once it is paid" in text and "next mail" in text
    assert "is ready (" not in text
    assert f"{CONVERSION}/payment/boleto.pdf" in text and f"{CONVERSION}/result" in text


def test_payment_pending_says_how_to_pay() -> None:
    pending = payment_pending("t", JOB)
    subject, text = mail(pending)
    assert subject == f"Conversion {JOB} completed: payment due"
    assert "R$ 9,90" in text and "due 10/12/2026" in text
    assert pending.pix_copia_e_cola and pending.pix_copia_e_cola in text
    assert pending.linha_digitavel and pending.linha_digitavel in text
    assert f"{CONVERSION}/payment/boleto.pdf" in text and f"{CONVERSION}/payment/pix.svg" in text
    assert f"Once paid, the result downloads with your API key from:\n{CONVERSION}/result" in text


def test_payment_pending_without_pix_still_gives_the_boleto() -> None:
    _, text = mail(payment_pending("t", JOB).model_copy(update={"pix_copia_e_cola": None}))
    assert "Pix" not in text and f"{CONVERSION}/payment/boleto.pdf" in text


def test_charge_paid_says_download_it() -> None:
    subject, text = mail(charge_paid("t", JOB))
    assert subject == f"Conversion {JOB}: payment received"
    assert "Payment received" in text and f"{CONVERSION}/result" in text


@pytest.mark.parametrize("situacao, said", [("EXPIRADO", "expired"), ("CANCELADO", "cancelled")])
def test_a_cancelled_charge_says_why_briefly(situacao: str, said: str) -> None:
    cancelled = ChargeCancelled(
        tenant_id="t", boleto_id="bl_1", job_id=JOB, charge_id="cs", situacao=situacao
    )
    subject, text = mail(cancelled)
    assert said in subject and JOB in subject
    assert "can no longer be paid" in text and len(text) < 400


def test_a_failed_charge_gives_the_reason() -> None:
    failed = ChargeFailed(
        tenant_id="t", boleto_id="bl_1", job_id=JOB, code="FALHA_EMISSAO", message="bank said no"
    )
    subject, text = mail(failed)
    assert subject == f"Conversion {JOB}: charge could not be issued"
    assert "FALHA_EMISSAO" in text and "bank said no" in text and f"PUT {CONVERSION}/payer" in text


def test_a_charge_without_a_job_falls_back_to_its_data() -> None:
    subject, text = mail(charge_paid("t", None))
    assert subject == "charge.paid (bl_None)" and '"situacao": "RECEBIDO"' in text
