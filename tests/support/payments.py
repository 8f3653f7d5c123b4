"""Paid tenants, payers and the bank's side of a payment, for the paid-conversion tests."""

import asyncio
import random
import uuid
from datetime import date, timedelta
from typing import Any

import httpx

from shared.payer import valid_cpf
from tests.support.inter import token

PRICE_CENTS = 990
TENANT_CACHE_S = 2.0  # how long a process may serve a tenant's price from before it re-reads


def new_cpf() -> str:
    """A valid CPF no other test uses: the bank's listings can be filtered by it."""
    while True:
        number = f"{random.randrange(10**10, 10**11):011d}"
        if valid_cpf(number):
            return number


def payer(cpf: str | None = None, **overrides: str) -> dict[str, Any]:
    """A payer in the bank's own field names."""
    return {
        "cpfCnpj": cpf or new_cpf(),
        "tipoPessoa": "FISICA",
        "nome": "Maria Souza",
        "endereco": "Avenida Paulista, 1000",
        "cidade": "São Paulo",
        "uf": "SP",
        "cep": "01310100",
        "email": "maria@example.com",
    } | overrides


async def paid_tenant(base_url: str, admin_key: str, price_cents: int = PRICE_CENTS) -> str:
    """A fresh tenant charged ``price_cents`` per conversion, once every process sees it."""
    tenant = f"paid-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as admin:
        changed = await admin.patch(
            f"/v1/admin/tenants/{tenant}", json={"price_cents": price_cents}
        )
        assert changed.status_code == 200, changed.text
    # every process re-reads the tenants' settings within their cache's lifetime
    await asyncio.sleep(TENANT_CACHE_S + 1.0)
    return tenant


async def charges_of(bank: httpx.AsyncClient, cpf: str) -> list[dict[str, Any]]:
    """Every charge the bank holds for the payer ``cpf`` (issued from yesterday on)."""
    params = {
        "dataInicial": (date.today() - timedelta(days=1)).isoformat(),
        "dataFinal": (date.today() + timedelta(days=1)).isoformat(),
        "filtrarDataPor": "EMISSAO",
        "cpfCnpjPessoaPagadora": cpf,
        "paginacao.itensPorPagina": "1000",
    }
    response = await bank.get("/cobranca/v3/cobrancas", params=params, headers=await token(bank))
    assert response.status_code == 200, response.text
    return list(response.json()["cobrancas"])


async def pay_at_bank(bank: httpx.AsyncClient, charge_id: str) -> None:
    """The sandbox's payment of a charge: the bank then calls its webhook back."""
    paid = await bank.post(f"/cobranca/v3/cobrancas/{charge_id}/pagar", headers=await token(bank))
    assert paid.status_code < 300, paid.text


async def payment_where(
    client: httpx.AsyncClient, job_id: str, wanted: str, timeout: float = 120.0
) -> dict[str, Any]:
    """The job once its payment reaches ``wanted`` ("issued": pending with its charge)."""
    deadline = asyncio.get_running_loop().time() + timeout
    job: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        job = (await client.get(f"/v1/conversions/{job_id}")).json()
        payment = job.get("payment") or {}
        if wanted == "issued" and payment.get("status") == "pending" and payment.get("pix_qr"):
            return job
        if payment.get("status") == wanted:
            return job
        await asyncio.sleep(0.2)
    raise AssertionError(f"payment of {job_id} not {wanted} within {timeout} s: {job}")
