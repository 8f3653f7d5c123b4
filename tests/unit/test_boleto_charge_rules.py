"""boleto-sync refuses with 422 the discount, fine and interest Banco Inter would refuse: a code
outside the bank's lists, or a code whose rate (``taxa``) or amount (``valor``) is missing or
zero. Otherwise the user gets 202 and the charge fails later at the bank."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from boleto_sync import endpoints
from boleto_sync.app import create_app
from boleto_sync.schemas import BoletoCreate
from boleto_sync.settings import BoletoSettings
from shared.auth import Principal, require_principal
from shared.settings import InfraSettings
from tests.support.inter import charge_body


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    # a refused body never reaches the service, so the real route answers without its
    # infrastructure: the key and the service are stand-ins, which a stored boleto would expose
    app = create_app(InfraSettings(environment="test"), BoletoSettings())
    app.dependency_overrides[require_principal] = lambda: Principal("key_1", "tenant_1", False)
    app.dependency_overrides[endpoints._service] = lambda: None
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        yield client


REFUSED = {
    "desconto code not in the bank's list": (
        {"desconto": {"codigo": "DESCONTOESPECIAL", "quantidadeDias": 0, "taxa": 1}},
        ["desconto", "codigo"],
        "NAOTEMDESCONTO",
    ),
    "desconto code the SDK does not know": (
        {"desconto": {"codigo": "VALORANTECIPACAODIACORRIDO", "valor": 1}},
        ["desconto", "codigo"],
        "VALORANTECIPACAODIAUTIL",
    ),
    "percent discount without taxa": (
        {"desconto": {"codigo": "PERCENTUALDATAINFORMADA", "quantidadeDias": 3}},
        ["desconto", "taxa"],
        "taxa must be given and above zero for codigo PERCENTUALDATAINFORMADA",
    ),
    "percent-of-nominal discount with taxa zero": (
        {"desconto": {"codigo": "PERCENTUALVALORNOMINALDIAUTIL", "taxa": 0}},
        ["desconto", "taxa"],
        "taxa must be given and above zero for codigo PERCENTUALVALORNOMINALDIAUTIL",
    ),
    "fixed discount with taxa instead of valor": (
        {"desconto": {"codigo": "VALORFIXODATAINFORMADA", "quantidadeDias": 3, "taxa": 5}},
        ["desconto", "valor"],
        "valor must be given and above zero for codigo VALORFIXODATAINFORMADA",
    ),
    "early-payment discount without valor": (
        {"desconto": {"codigo": "VALORANTECIPACAODIAUTIL", "valor": None}},
        ["desconto", "valor"],
        "valor must be given and above zero for codigo VALORANTECIPACAODIAUTIL",
    ),
    "percent fine without taxa": (
        {"multa": {"codigo": "PERCENTUAL"}},
        ["multa", "taxa"],
        "taxa must be given and above zero for codigo PERCENTUAL",
    ),
    "fixed fine with taxa instead of valor": (
        {"multa": {"codigo": "VALORFIXO", "taxa": 2}},
        ["multa", "valor"],
        "valor must be given and above zero for codigo VALORFIXO",
    ),
    "monthly interest without taxa": (
        {"mora": {"codigo": "TAXAMENSAL", "valor": 1}},
        ["mora", "taxa"],
        "taxa must be given and above zero for codigo TAXAMENSAL",
    ),
    "daily interest of zero": (
        {"mora": {"codigo": "VALORDIA", "valor": 0}},
        ["mora", "valor"],
        "valor must be given and above zero for codigo VALORDIA",
    ),
}


@pytest.mark.parametrize("fields, where, message", REFUSED.values(), ids=REFUSED.keys())
async def test_what_the_bank_refuses_is_a_422_naming_the_field(
    api: httpx.AsyncClient, fields: dict[str, Any], where: list[str], message: str
) -> None:
    response = await api.post("/v1/boletos", json=charge_body(**fields))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "validation_error", body
    errors = {tuple(error["loc"]): error["msg"] for error in body["errors"]}
    assert list(errors) == [("body", *where)], errors
    assert message in errors[("body", *where)]


ACCEPTED = {
    "no discount": {"desconto": {"codigo": "NAOTEMDESCONTO"}},
    "percent discount": {
        "desconto": {"codigo": "PERCENTUALDATAINFORMADA", "quantidadeDias": 5, "taxa": 2.5}
    },
    "percent-of-nominal discount": {
        "desconto": {"codigo": "PERCENTUALVALORNOMINALDIACORRIDO", "taxa": 0.1}
    },
    "fixed discount": {
        "desconto": {"codigo": "VALORFIXODATAINFORMADA", "quantidadeDias": 3, "valor": 5.5}
    },
    "early-payment discount": {"desconto": {"codigo": "VALORANTECIPACAODIAUTIL", "valor": 0.5}},
    "no fine, no interest": {"multa": {"codigo": "NAOTEMMULTA"}, "mora": {"codigo": "ISENTO"}},
    "interest left to the bank": {"mora": {"codigo": "CONTROLEDOBANCO"}},
    "percent fine, monthly interest": {
        "multa": {"codigo": "PERCENTUAL", "taxa": 2},
        "mora": {"codigo": "TAXAMENSAL", "taxa": 1},
    },
    "fixed fine, daily interest": {
        "multa": {"codigo": "VALORFIXO", "valor": 10},
        "mora": {"codigo": "VALORDIA", "valor": 0.35},
    },
}


@pytest.mark.parametrize("fields", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_each_code_with_what_it_needs_is_accepted_and_sent_as_given(
    fields: dict[str, Any],
) -> None:
    charge = BoletoCreate.model_validate(charge_body(**fields)).charge()
    for name, given in fields.items():
        # the bank receives the code and its amounts as numbers, nothing added or dropped
        assert charge[name] == {key: value for key, value in given.items()}
        assert all(
            isinstance(charge[name][key], float) for key in ("taxa", "valor") if key in given
        )
