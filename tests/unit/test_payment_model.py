"""A paid job's payment as the upload service keeps it: the payer's checks, the fields of a
charge request, the boleto's object prefix and the view clients get (never the payer)."""

import json
from datetime import date

import pytest

from shared.tenants import TenantPrice
from upload.errors import InvalidPayer
from upload.payment import (
    boleto_key_owned,
    charge_fields,
    charge_request,
    locked,
    new_payment,
    parse_payer,
)
from upload.schemas import Job, payment_view

PAYER = {
    "cpfCnpj": "529.982.247-25",
    "tipoPessoa": "FISICA",
    "nome": "Maria da Silva",
    "endereco": "Avenida Paulista",
    "cidade": "São Paulo",
    "uf": "SP",
    "cep": "01310-100",
}
TODAY = date(2026, 12, 1)


def _job(**payment: object) -> dict[str, object]:
    return {
        "_id": "cv_1",
        "tenant": "acme",
        "payment": {**new_payment(TenantPrice(price_cents=990, due_days=5)), **payment},
    }


def test_a_payer_is_normalised_to_the_banks_digits() -> None:
    payer = parse_payer(json.dumps(PAYER))
    assert payer["cpfCnpj"] == "52998224725" and payer["cep"] == "01310100"
    assert "email" not in payer  # unset fields are not sent as nulls


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("{", "JSON object"),
        ("[]", "payer"),
        (json.dumps({**PAYER, "cpfCnpj": "52998224724"}), "cpfCnpj: not a valid CPF"),
        (json.dumps({**PAYER, "tipoPessoa": "JURIDICA"}), "not a valid CNPJ"),
        (json.dumps({**PAYER, "cep": "01310-10a"}), "cep: CEP must have 8 digits"),
        (json.dumps({**PAYER, "extra": "x"}), "extra"),
    ],
)
def test_an_invalid_payer_says_which_field_and_why(given: str, said: str) -> None:
    with pytest.raises(InvalidPayer, match=said) as refused:
        parse_payer(given)
    assert refused.value.code == "invalid_payer"
    assert "52998224724" not in refused.value.message  # what was given is not echoed


def test_the_first_charge_keeps_whatever_the_bank_already_said() -> None:
    fields = charge_fields(_job(status="paid", boleto_id="b1")["payment"], TODAY)  # type: ignore[arg-type]
    assert fields == {"payment.attempt": 1, "payment.due_date": "2026-12-06"}


def test_a_new_attempt_starts_afresh_and_remembers_the_failed_boleto() -> None:
    payment = _job(attempt=1, status="failed", boleto_id="b1", error={"code": "x"})["payment"]
    fields = charge_fields(payment, TODAY)  # type: ignore[arg-type]
    assert fields["payment.attempt"] == 2 and fields["payment.status"] == "pending"
    assert fields["payment.boleto_id"] is None and fields["payment.error"] is None
    assert fields["payment.old_boletos"] == ["b1"]
    request = charge_request(_job(), fields, {"nome": "Maria"})
    assert (request.attempt, request.amount_cents, request.due_date) == (2, 990, date(2026, 12, 6))
    assert request.subject() == "cv_1"


@pytest.mark.parametrize(
    ("key", "owned"),
    [
        ("acme/boletos/b1/boleto.pdf", True),
        ("acme/boletos/b1/v2/boleto.pdf", True),
        ("acme/boletos/b2/boleto.pdf", False),
        ("globex/boletos/b1/boleto.pdf", False),
        ("acme/boletos/b1/../../cv_1/result.xml", False),
        ("acme/boletos/b1/", False),
        ("acme/boletos/b1//x.pdf", False),
    ],
)
def test_a_boleto_is_served_only_from_its_own_prefix(key: str, owned: bool) -> None:
    assert boleto_key_owned(key, "acme", "b1") is owned


def test_the_view_shows_the_payment_but_never_the_payer() -> None:
    job = {
        **_job(pdf_key="acme/boletos/b1/boleto.pdf", boleto_id="b1", pix_copia_e_cola="000201"),
        "payer": {"cpfCnpj": "52998224725", "nome": "Maria"},
    }
    view = payment_view(job)
    assert view.boleto_pdf == "/v1/conversions/cv_1/payment/boleto.pdf"
    assert view.pix_qr == "/v1/conversions/cv_1/payment/pix.svg"
    assert not view.payer_required and locked(job)
    assert "52998224725" not in view.model_dump_json() and "Maria" not in view.model_dump_json()
    assert payment_view(_job()).payer_required and payment_view(_job()).boleto_pdf is None
    assert not locked({"_id": "cv_2"}) and not locked(_job(status="paid"))


def test_the_job_schema_documents_the_payment() -> None:
    schema = Job.model_json_schema()
    payment = schema["$defs"]["Payment"]["properties"]
    assert {"status", "boleto_pdf", "pix_qr", "payer_required", "paid_at", "error"} <= set(payment)
    assert "payer" not in payment
