"""The free-form Inter fields of a charge and the bank's callbacks are bounded: too large or
unknown parts are refused with a stable code, before anything is stored."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from boleto_sync.app import create_app
from boleto_sync.endpoints import CALLBACK_MAX_BYTES, CALLBACK_MAX_ENTRIES
from boleto_sync.settings import BoletoSettings
from shared.bootstrap import Infra
from shared.settings import InfraSettings
from tests.support.inter import charge_body

KEY = f"sk_boleto_{uuid.uuid4().hex}"


@pytest.fixture
async def api(infra_settings: InfraSettings, infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(infra_settings.model_copy(update={"dev_api_key": KEY}), BoletoSettings())
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport,
            base_url="http://api.test",
            headers={"Authorization": f"Bearer {KEY}"},
        ) as client,
    ):
        yield client


def _refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def test_the_banks_documented_fields_within_their_bounds_are_accepted(
    api: httpx.AsyncClient, infra: Infra
) -> None:
    body = charge_body(
        mensagem={f"linha{n}": "x" * 78 for n in range(1, 6)},
        desconto={"codigo": "PERCENTUALDATAINFORMADA", "quantidadeDias": 5, "taxa": 2.5},
        multa={"codigo": "PERCENTUAL", "taxa": 2},
        mora={"codigo": "TAXAMENSAL", "taxa": 1},
    )
    response = await api.post("/v1/boletos", json=body)
    assert response.status_code == 202, response.text
    stored = await infra.db["boletos"].find_one({"_id": response.json()["id"]})
    assert stored is not None
    charge = stored["charge"]
    assert charge["multa"] == {"codigo": "PERCENTUAL", "taxa": 2.0}  # a number, as the bank wants
    assert charge["mensagem"]["linha5"] == "x" * 78


@pytest.mark.parametrize(
    "field, value, where",
    [
        ("mensagem", {"linha1": "x" * 79}, ["mensagem", "linha1"]),
        ("mensagem", {"linha6": "x"}, ["mensagem", "linha6"]),
        ("mensagem", {f"k{n}": "x" for n in range(10_000)}, ["mensagem"]),
        ("desconto", {"codigo": "X" * 41}, ["desconto", "codigo"]),
        ("desconto", {"codigo": "PERCENTUALDATAINFORMADA", "nota": "x" * 100_000}, ["desconto"]),
        ("desconto", {"codigo": "PERCENTUALDATAINFORMADA", "quantidadeDias": 10**40}, ["desconto"]),
        ("multa", {"codigo": "PERCENTUAL", "taxa": 10**12}, ["multa", "taxa"]),
        ("multa", {"codigo": "QUALQUER"}, ["multa", "codigo"]),
        ("mora", {"codigo": "TAXAMENSAL", "valor": "1.001"}, ["mora", "valor"]),
        ("mora", {"codigo": "ISENTO", "extra": ["x"] * 1000}, ["mora", "extra"]),
    ],
)
async def test_oversized_or_unknown_inter_fields_are_422(
    api: httpx.AsyncClient, infra: Infra, field: str, value: Any, where: list[str]
) -> None:
    response = await api.post("/v1/boletos", json=charge_body(**{field: value}))
    body = _refused(response, 422, "validation_error")
    locations = [error["loc"][1:] for error in body["errors"]]
    assert any(loc[: len(where)] == where for loc in locations), locations
    assert len(response.content) < 20_000  # the refusal does not echo the input back at length
    assert await infra.db["boletos"].count_documents({}) == 0


async def test_a_callback_body_over_the_limit_is_413_declared_or_streamed(
    api: httpx.AsyncClient,
) -> None:
    entry = b'{"codigoSolicitacao": "x", "situacao": "PAGO"},'
    big = b"[" + entry * (CALLBACK_MAX_BYTES // len(entry) + 1) + b"{}]"
    declared = await api.post("/v1/inter/webhook", content=big)
    _refused(declared, 413, "too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = await api.post("/v1/inter/webhook", content=chunks())
    _refused(streamed, 413, "too_large")


async def test_a_callback_with_too_many_entries_is_413(api: httpx.AsyncClient) -> None:
    entries = [{"codigoSolicitacao": "x", "situacao": "PAGO"}] * (CALLBACK_MAX_ENTRIES + 1)
    _refused(await api.post("/v1/inter/webhook", json=entries), 413, "too_large")
    accepted = await api.post("/v1/inter/webhook", json=entries[:CALLBACK_MAX_ENTRIES])
    assert accepted.json() == {"received": CALLBACK_MAX_ENTRIES, "to_check": 0}


@pytest.mark.parametrize(
    "payload",
    [
        [{"codigoSolicitacao": "x", "situacao": "PAGO", "dataHoraSituacao": "9" * 41}],
        [{"codigoSolicitacao": "x" * 65, "situacao": "PAGO"}],
        [{"codigoSolicitacao": "x", "situacao": "P" * 41}],
    ],
)
async def test_oversized_callback_fields_are_malformed_callbacks(
    api: httpx.AsyncClient, payload: list[dict[str, str]]
) -> None:
    _refused(await api.post("/v1/inter/webhook", json=payload), 400, "malformed_callback")


async def test_a_deeply_nested_callback_is_malformed_not_a_crash(api: httpx.AsyncClient) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    _refused(await api.post("/v1/inter/webhook", content=nested), 400, "malformed_callback")
