"""A paid tenant's conversion end to end, through events only: the job completes with its
result locked, boleto-sync issues one charge at the bank (the simulator), the bank's payment
comes back as a callback that is checked with the bank, and the result unlocks. Webhooks get
each event once; killed workers charge nobody twice; a forged callback unlocks nothing."""

import asyncio
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from system import System

from tests.conftest import VENDORED
from tests.support.api import api_client, new_key, upload, wait_final
from tests.support.notifier import Receiver, eventually, receiver
from tests.support.payments import (
    PRICE_CENTS,
    charges_of,
    new_cpf,
    paid_tenant,
    pay_at_bank,
    payer,
    payment_where,
)

WAIT_S = 120.0  # generous: a loaded machine is never a reason to fail
PAYMENT_EVENTS = ["conversion.completed", "payment.*", "charge.*"]
DUE_DAYS = 3  # the default of a tenant that set only its price


@pytest.fixture
async def customer(system: System) -> AsyncIterator[httpx.AsyncClient]:
    """The API as a fresh paid tenant."""
    tenant = await paid_tenant(system.base_url, system.admin_key)
    key = await new_key(system.base_url, system.admin_key, tenant)
    async with api_client(system.base_url, key) as client:
        yield client


@pytest.fixture
async def bank(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(system.simulator_url, timeout=30) as client:
        yield client


@pytest.fixture
async def webhooks(system: System, customer: httpx.AsyncClient) -> AsyncIterator[Receiver]:
    """A receiver subscribed, with the customer's key, to the conversion and payment events."""
    key = customer.headers["Authorization"]
    async with receiver() as hooks, httpx.AsyncClient(base_url=system.notifier_url) as notifier:
        created = await notifier.post(
            "/v1/webhooks",
            json={"url": hooks.url, "events": PAYMENT_EVENTS},
            headers={"Authorization": key},
        )
        assert created.status_code == 201, created.text
        yield hooks


SOURCE = VENDORED / "mpp" / "mpp14timephased.mpp"


async def upload_paid(client: httpx.AsyncClient, cpf: str) -> str:
    response = await upload(client, SOURCE, payer=json.dumps(payer(cpf)))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def test_a_paid_conversion_unlocks_once_the_bank_confirms_its_payment(
    system: System,
    customer: httpx.AsyncClient,
    bank: httpx.AsyncClient,
    webhooks: Receiver,
) -> None:
    cpf = new_cpf()
    job_id = await upload_paid(customer, cpf)
    completed = await wait_final(customer, job_id, timeout=WAIT_S)
    assert completed["status"] == "completed", completed

    job = await payment_where(customer, job_id, "issued")
    payment = job["payment"]
    assert payment["amount_cents"] == PRICE_CENTS and payment["currency"] == "BRL"
    assert payment["due_date"] == (date.today() + timedelta(days=DUE_DAYS)).isoformat()
    assert payment["charge_id"] and payment["pix_copia_e_cola"] and payment["linha_digitavel"]
    assert payment["payer_required"] is False

    locked = await customer.get(f"/v1/conversions/{job_id}/result")
    assert locked.status_code == 402, locked.text
    assert locked.json()["code"] == "payment_required"
    pdf = await customer.get(payment["boleto_pdf"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    qr = await customer.get(payment["pix_qr"])
    assert qr.status_code == 200 and b"<svg" in qr.content

    charges = await charges_of(bank, cpf)
    assert [c["cobranca"]["codigoSolicitacao"] for c in charges] == [payment["charge_id"]]
    assert charges[0]["cobranca"]["valorNominal"] == PRICE_CENTS / 100

    await pay_at_bank(bank, payment["charge_id"])
    paid = await payment_where(customer, job_id, "paid")
    assert paid["payment"]["paid_at"]
    result = await customer.get(f"/v1/conversions/{job_id}/result")
    assert result.status_code == 200
    assert hashlib.sha256(result.content).hexdigest() == paid["result"]["sha256"]

    # each event once, with the same webhook-id however many attempts it took
    expected = {"conversion.completed.v1", "payment.pending.v1", "charge.paid.v1"}

    def events() -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in webhooks.delivered()]

    def all_arrived() -> bool:
        return expected <= {e["type"] for e in events()}

    await eventually(all_arrived, timeout=WAIT_S, what="the payment events delivered")
    await asyncio.sleep(3)  # a second delivery, if there were one, has time to arrive
    ours = [e for e in events() if e["data"].get("job_id") == job_id]
    assert Counter(e["type"] for e in ours) == dict.fromkeys(expected, 1), ours
    assert all(e["type"] != "payment.requested.v1" for e in ours)  # the payer stays inside


async def test_a_forged_or_unconfirmed_callback_unlocks_nothing(
    system: System, customer: httpx.AsyncClient, bank: httpx.AsyncClient
) -> None:
    job_id = await upload_paid(customer, new_cpf())
    payment = (await payment_where(customer, job_id, "issued"))["payment"]
    forged = [
        {
            "codigoSolicitacao": payment["charge_id"],
            "seuNumero": "forged",
            "situacao": "RECEBIDO",
            "dataHoraSituacao": "2026-11-30T12:00:00.000",
            "valorNominal": PRICE_CENTS / 100,
            "valorTotalRecebido": str(PRICE_CENTS / 100),
            "origemRecebimento": "PIX",
        }
    ]
    async with httpx.AsyncClient(base_url=system.boleto_url, timeout=30) as boleto_api:
        answer = await boleto_api.post("/v1/inter/webhook", json=forged)
    # taken as a hint (the bank's webhook gets no other answer), then checked with the bank
    assert answer.status_code < 300, answer.text
    await asyncio.sleep(5)  # the worker checks hints every half second
    job = (await customer.get(f"/v1/conversions/{job_id}")).json()
    assert job["payment"]["status"] == "pending", job["payment"]
    assert (await customer.get(f"/v1/conversions/{job_id}/result")).status_code == 402

    await pay_at_bank(bank, payment["charge_id"])  # the real payment still unlocks it
    await payment_where(customer, job_id, "paid")


async def test_nothing_is_charged_twice_when_workers_are_killed_mid_flow(
    system: System, customer: httpx.AsyncClient, bank: httpx.AsyncClient
) -> None:
    cpf = new_cpf()  # every job has this payer, so the bank's list of it counts the charges
    jobs = [await upload_paid(customer, cpf) for _ in range(4)]
    for name in ("upload-worker", "boleto-worker", "upload-worker", "boleto-worker"):
        await asyncio.sleep(0.7)
        system.kill(name)
        system.restart(name)
    system.wait_ready("upload-worker")
    system.wait_ready("boleto-worker")

    issued = [(await payment_where(customer, job_id, "issued"))["payment"] for job_id in jobs]
    charge_ids = [p["charge_id"] for p in issued]
    assert len(set(charge_ids)) == len(jobs)

    async def one_charge_each() -> list[str]:
        return sorted(c["cobranca"]["codigoSolicitacao"] for c in await charges_of(bank, cpf))

    assert await one_charge_each() == sorted(charge_ids)
    for charge_id in charge_ids:
        await pay_at_bank(bank, charge_id)
    for job_id in jobs:
        await payment_where(customer, job_id, "paid")
    await asyncio.sleep(3)  # a late duplicate issue would show in the bank's list now
    assert await one_charge_each() == sorted(charge_ids)


async def test_reuse_of_an_identical_conversion_needs_its_own_payment(
    customer: httpx.AsyncClient, bank: httpx.AsyncClient
) -> None:
    cpf = new_cpf()
    first = await upload_paid(customer, cpf)
    paid_first = (await payment_where(customer, first, "issued"))["payment"]
    await pay_at_bank(bank, paid_first["charge_id"])
    await payment_where(customer, first, "paid")

    second = await upload_paid(customer, cpf)  # same file, same options: the result is reused
    job = await payment_where(customer, second, "issued")
    assert job["payment"]["charge_id"] != paid_first["charge_id"]
    charges = sorted(c["cobranca"]["codigoSolicitacao"] for c in await charges_of(bank, cpf))
    assert charges == sorted([paid_first["charge_id"], job["payment"]["charge_id"]])
    assert (await customer.get(f"/v1/conversions/{second}/result")).status_code == 402


async def test_a_payer_given_after_completion_starts_the_charge(
    customer: httpx.AsyncClient, bank: httpx.AsyncClient
) -> None:
    response = await upload(customer, SOURCE, name=f"later-{uuid.uuid4().hex[:6]}.mpp")
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    await wait_final(customer, job_id, timeout=WAIT_S)
    job = (await customer.get(f"/v1/conversions/{job_id}")).json()
    assert job["payment"]["status"] == "pending" and job["payment"]["payer_required"] is True
    refused = await customer.put(f"/v1/conversions/{job_id}/payer", json={"nome": "x"})
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_payer"

    cpf = new_cpf()
    given = await customer.put(f"/v1/conversions/{job_id}/payer", json=payer(cpf))
    assert given.status_code == 200, given.text
    issued = (await payment_where(customer, job_id, "issued"))["payment"]
    assert [c["cobranca"]["codigoSolicitacao"] for c in await charges_of(bank, cpf)] == [
        issued["charge_id"]
    ]
    again = await customer.put(f"/v1/conversions/{job_id}/payer", json=payer(cpf))
    assert again.status_code == 409 and again.json()["code"] == "payer_locked"
