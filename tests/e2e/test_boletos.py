"""boleto-sync through its public API against the Banco Inter simulator."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from system import System

from tests.support import boleto
from tests.support.api import api_client
from tests.support.inter import charge_body, pdf_ready, token

boletos = boleto.api  # fixture: boleto-sync's API as the tenant


@pytest.fixture
async def bank(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(system.simulator_url, timeout=30) as c:
        yield c


def _charge(**overrides: Any) -> dict[str, Any]:
    return charge_body(seuNumero=f"T{uuid.uuid4().hex[:12]}", **overrides)


async def test_pdf_answers_202_at_once_then_the_stored_pdf(
    boletos: httpx.AsyncClient, bank: httpx.AsyncClient
) -> None:
    await bank.post("/_sim/config", json={"faults": {"latency_ms": 400}})  # a slow bank
    try:
        created = await boletos.post("/v1/boletos", json=_charge(proposal_id="P-1"))
        assert created.status_code == 202, created.text
        boleto_id = created.json()["id"]
        started = time.perf_counter()
        first = await boletos.get(f"/v1/boletos/{boleto_id}/pdf")
        elapsed = time.perf_counter() - started
        second = await boletos.get(f"/v1/boletos/{boleto_id}/pdf")
        assert first.status_code == 202 and elapsed < 1.0
        body = first.json()
        assert body["error"] == "PDF_SYNC_IN_PROGRESS" and body["estimated_seconds"] > 0
        assert second.status_code == 202 and second.json()["job_id"] == body["job_id"]
        pdf = await pdf_ready(boletos, boleto_id)
    finally:
        await bank.post("/_sim/config", json={"faults": {"latency_ms": 0}})
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    record = (await boletos.get(f"/v1/boletos/{boleto_id}")).json()
    assert record["status"] == "A_RECEBER"
    assert record["inter"]["codigo_solicitacao"] and record["inter"]["linha_digitavel"]
    assert record["pdf"]["current"]["version"] == 1
    job = (await boletos.get(f"/v1/jobs/{body['job_id']}")).json()
    assert job["status"] == "completed" and job["boleto_ids"] == [boleto_id]


async def test_payment_callback_updates_status_and_stores_a_new_pdf_version(
    boletos: httpx.AsyncClient, bank: httpx.AsyncClient
) -> None:
    boleto_id = (await boletos.post("/v1/boletos", json=_charge())).json()["id"]
    await pdf_ready(boletos, boleto_id)
    codigo = (await boletos.get(f"/v1/boletos/{boleto_id}")).json()["inter"]["codigo_solicitacao"]
    paid = await bank.post(f"/cobranca/v3/cobrancas/{codigo}/pagar", headers=await token(bank))
    assert paid.status_code < 300, paid.text
    for _ in range(100):
        record = (await boletos.get(f"/v1/boletos/{boleto_id}")).json()
        if record["status"] == "RECEBIDO" and len(record["pdf"]["versions"]) == 2:
            break
        await asyncio.sleep(0.1)
    assert record["status"] == "RECEBIDO"
    assert [v["version"] for v in record["pdf"]["versions"]] == [1, 2]
    assert record["pdf"]["current"]["version"] == 2


async def test_proposal_sync_job_covers_every_boleto_of_the_proposal(
    boletos: httpx.AsyncClient,
) -> None:
    proposal = f"prop-{uuid.uuid4().hex[:6]}"
    ids = [
        (await boletos.post("/v1/boletos", json=_charge(proposal_id=proposal))).json()["id"]
        for _ in range(3)
    ]
    for boleto_id in ids:
        await pdf_ready(boletos, boleto_id)
    accepted = await boletos.post(f"/v1/proposals/{proposal}/boletos/sync")
    assert accepted.status_code == 202
    job_id = accepted.json()["job_id"]
    for _ in range(200):
        job = (await boletos.get(f"/v1/jobs/{job_id}")).json()
        if job["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.1)
    assert job["kind"] == "proposal_sync" and job["status"] == "completed"
    assert sorted(job["boleto_ids"]) == sorted(ids) and len(job["jobs"]) == 3
    for boleto_id in ids:
        record = (await boletos.get(f"/v1/boletos/{boleto_id}")).json()
        assert record["pdf"]["current"]["version"] == 2
    unknown = await boletos.post("/v1/proposals/nope/boletos/sync")
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "change, field",
    [
        ({"pagador": {"cpfCnpj": "12345678900"}}, "cpfCnpj"),
        ({"pagador": {"cep": "123"}}, "cep"),
        ({"valorNominal": -5}, "valorNominal"),
        ({"valorNominal": 0}, "valorNominal"),
        ({"dataVencimento": "2020-01-01"}, "dataVencimento"),
        ({"seuNumero": "x" * 16}, "seuNumero"),
        ({"pagador": {"tipoPessoa": "JURIDICA"}}, "cpfCnpj"),
    ],
)
async def test_bad_input_is_422_with_a_clear_message(
    boletos: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = _charge()
    for key, value in change.items():
        body[key] = {**body[key], **value} if isinstance(value, dict) else value
    response = await boletos.post("/v1/boletos", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert field in str(problem["errors"])


async def test_unknown_ids_other_tenants_and_admin_stats(
    system: System, boletos: httpx.AsyncClient
) -> None:
    assert (await boletos.get("/v1/boletos/nope")).status_code == 404
    assert (await boletos.get("/v1/boletos/nope/pdf")).status_code == 404
    assert (await boletos.get("/v1/jobs/nope")).status_code == 404
    boleto_id = (await boletos.post("/v1/boletos", json=_charge())).json()["id"]
    async with httpx.AsyncClient(
        base_url=system.base_url,
        timeout=30,
        headers={"Authorization": f"Bearer {system.admin_key}"},
    ) as upload:
        other = (await upload.post("/v1/admin/api-keys", json={"tenant": "boleto-other"})).json()
    stranger = {"Authorization": f"Bearer {other['key']}"}
    assert (await boletos.get(f"/v1/boletos/{boleto_id}", headers=stranger)).status_code == 404
    assert (await boletos.get(f"/v1/boletos/{boleto_id}/pdf", headers=stranger)).status_code == 404
    assert (await boletos.get("/v1/admin/rate-limit/stats")).status_code == 403
    stats = await boletos.get(
        "/v1/admin/rate-limit/stats", headers={"Authorization": f"Bearer {system.admin_key}"}
    )
    assert stats.status_code == 200
    groups = stats.json()["groups"]
    assert groups["pdf"]["limit"] == 120 and groups["token"]["limit"] == 5
    assert groups["issue"]["requests_sent"] >= 1
    async with httpx.AsyncClient(base_url=system.boleto_url) as anonymous:
        assert (await anonymous.get(f"/v1/boletos/{boleto_id}")).status_code == 401


@pytest.mark.parametrize(
    "payload", [b"not json", b'{"codigoSolicitacao": "x"}', b'[{"situacao": 1}]']
)
async def test_malformed_bank_callbacks_are_400(system: System, payload: bytes) -> None:
    async with httpx.AsyncClient(base_url=system.boleto_url) as bank_side:
        response = await bank_side.post(
            "/v1/inter/webhook", content=payload, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_callback"
