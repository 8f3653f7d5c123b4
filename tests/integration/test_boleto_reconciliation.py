"""Reconciliation with the bank: a charge whose issue answer was lost until its retries ran out
is adopted (ISSUED: the bank's A_RECEBER, its PDF synced) and never issued twice; a payment
callback that never reached us is recovered from the bank's callback history; admins read the
bank's summary. The payer is kept until the bank holds the charge, and no longer."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from system import System

from boleto_sync.repository import BoletoRepository
from tests.support import boleto
from tests.support.api import api_client
from tests.support.infra import system_of_components
from tests.support.inter import CHARGES, charge_body, configure, pdf_ready, stats, token

pytestmark = pytest.mark.timeout(240)
SECRET = f"cb-{uuid.uuid4().hex}"
api, admin = boleto.api, boleto.admin  # fixtures: boleto-sync's API as tenant, as admin
NO_FAULTS = {"error_rate": 0, "timeout_rate": 0, "malformed_rate": 0, "groups": {}}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with system_of_components(
        tmp_path_factory.mktemp("boleto-reconciliation"),
        boleto=True,
        MONGODB_DB="boleto_reconciliation",
        BOLETO_WEBHOOK_TOKEN=SECRET,
        BOLETO_RECONCILE_INTERVAL_S="3600",  # only the first run and the ones asked for
        BOLETO_LIMIT_CALLBACKS="60",
        BOLETO_PROCESSING_POLL_S="0.1",
        INTER_SIM_PROCESSING_DELAY_SECONDS="0.2",
        INTER_SIM_WEBHOOK_RETRIES="1",
        INTER_SIM_WEBHOOK_RETRY_DELAY_SECONDS="0.2",
        MAX_DELIVERY_ATTEMPTS="3",
        RETRY_BASE_DELAY_MS="200",
    ) as running:
        yield running


@pytest.fixture
async def bank(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(system.simulator_url, timeout=30) as client:
        await configure(client, faults=NO_FAULTS, limits={"token": 1000, "webhook": 1000})
        client.headers.update(await token(client))
        yield client
        await configure(client, faults=NO_FAULTS)


@pytest.fixture
async def db(system: System) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """boleto-sync's database, as the services write it."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(system.env["MONGODB_URL"])
    try:
        yield client[system.env["MONGODB_DB"]]
    finally:
        await client.close()


async def stored_payer(db: AsyncDatabase[dict[str, Any]], boleto_id: str) -> Any:
    stored = await db["boletos"].find_one({"_id": boleto_id})
    assert stored is not None, boleto_id
    return stored["charge"].get("pagador")


async def reconciled(admin: httpx.AsyncClient) -> dict[str, Any]:
    """The report of a reconciliation run asked for now, once a worker has finished it."""
    asked = await admin.post("/v1/admin/boletos/reconciliation")
    assert asked.status_code == 202, asked.text
    requested = asked.json()["requested_at"]
    for _ in range(300):
        state = (await admin.get("/v1/admin/boletos/reconciliation")).json()
        run = state["last_run"] or {}
        if run.get("started_at", "") >= requested and run.get("finished_at"):
            assert run["errors"] == [], run
            return run  # type: ignore[no-any-return]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no reconciliation run after {requested}: {state}")


def period() -> dict[str, str]:
    return {
        "dataInicial": (date.today() - timedelta(days=1)).isoformat(),
        "dataFinal": (date.today() + timedelta(days=1)).isoformat(),
        "filtrarDataPor": "EMISSAO",
    }


async def charges_of(bank: httpx.AsyncClient, seu_numero: str) -> list[dict[str, Any]]:
    listed = await bank.get(CHARGES, params={**period(), "seuNumero": seu_numero})
    assert listed.status_code == 200, listed.text
    return [item["cobranca"] for item in listed.json()["cobrancas"]]


async def record_when(
    api: httpx.AsyncClient, boleto_id: str, done: Any, within_s: float = 90
) -> dict[str, Any]:
    for _ in range(int(within_s / 0.2)):
        record: dict[str, Any] = (await api.get(f"/v1/boletos/{boleto_id}")).json()
        if done(record):
            return record
        await asyncio.sleep(0.2)
    raise AssertionError(f"{boleto_id} never got there: {record}")


async def fill(bank: httpx.AsyncClient, count: int) -> None:
    """``count`` charges of the bank's own, so that what follows is beyond the list's first page."""
    await configure(bank, limits={"issue": 100_000, "list": 100_000})
    for start in range(0, count, 50):
        made = await asyncio.gather(
            *(
                bank.post(CHARGES, json=charge_body(seuNumero=f"F{number:05d}"))
                for number in range(start, min(start + 50, count))
            )
        )
        assert {r.status_code for r in made} == {200}, made[0].text


async def test_a_charge_whose_issue_answer_was_lost_is_adopted_and_issued_once(
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    bank: httpx.AsyncClient,
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    await fill(bank, 1000)
    # the bank makes the charge but its answer is unreadable, and the list the service looks
    # for it in answers 5xx: every issue attempt fails, and the last leaves the boleto FAILED
    lost = {"issue": {"malformed_rate": 1.0}, "list": {"error_rate": 1.0}}
    await configure(bank, faults={**NO_FAULTS, "groups": lost})
    seu_numero = f"R{uuid.uuid4().hex[:12]}"
    created = (await api.post("/v1/boletos", json=charge_body(seuNumero=seu_numero))).json()
    boleto_id, job_id = created["id"], created["pdf"]["sync_job_id"]
    failed = await record_when(api, boleto_id, lambda r: r["status"] == "FAILED", 120)
    await configure(bank, faults=NO_FAULTS)
    assert failed["error"]["code"] == "issue_failed" and not failed["inter"]["codigo_solicitacao"]
    assert (await stored_payer(db, boleto_id))["nome"] == "João da Silva"  # a replay issues it
    [charge] = await charges_of(bank, seu_numero)  # the bank has it all the same
    first_page = await bank.get(
        CHARGES,
        params={**period(), "paginacao.itensPorPagina": 1000, "paginacao.paginaAtual": 0},
    )
    assert first_page.json()["totalPaginas"] >= 2
    assert seu_numero not in {c["cobranca"]["seuNumero"] for c in first_page.json()["cobrancas"]}

    run = await reconciled(admin)
    assert run["lost_issues"] >= 1 and run["adopted"] == 1, run
    assert run["charges_listed"] > 1000, run  # past the first page
    pdf = await pdf_ready(api, boleto_id)
    assert pdf.content.startswith(b"%PDF")
    record = (await api.get(f"/v1/boletos/{boleto_id}")).json()
    assert record["status"] == "A_RECEBER" and record["error"] is None
    assert record["inter"]["codigo_solicitacao"] == charge["codigoSolicitacao"]
    assert record["inter"]["linha_digitavel"]
    job = (await api.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "completed", job
    assert await stored_payer(db, boleto_id) is None  # the bank holds it now

    again = await reconciled(admin)
    assert again["adopted"] == 0, again
    assert [c["codigoSolicitacao"] for c in await charges_of(bank, seu_numero)] == [
        charge["codigoSolicitacao"]
    ]  # issued once


async def test_an_issued_charge_keeps_its_payer_at_the_bank_only(
    api: httpx.AsyncClient, bank: httpx.AsyncClient, db: AsyncDatabase[dict[str, Any]]
) -> None:
    seu_numero = f"P{uuid.uuid4().hex[:12]}"
    body = charge_body(seuNumero=seu_numero, pagador={"nome": "Maria Payer Retention"})
    boleto_id = (await api.post("/v1/boletos", json=body)).json()["id"]
    await pdf_ready(api, boleto_id)
    [charge] = await charges_of(bank, seu_numero)
    assert charge["pagador"]["nome"] == "Maria Payer Retention"
    stored = await db["boletos"].find_one({"_id": boleto_id})
    assert stored is not None and stored["inter"]["codigo_solicitacao"]
    assert "pagador" not in stored["charge"] and stored["charge"]["seuNumero"] == seu_numero
    assert "Maria Payer Retention" not in repr(stored)
    assert body["pagador"]["cpfCnpj"] not in repr(stored)


async def test_a_start_drops_the_payers_that_earlier_versions_kept_after_the_issue(
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    payer = charge_body()["pagador"]
    issued, pending = f"old-issued-{uuid.uuid4().hex}", f"old-pending-{uuid.uuid4().hex}"
    await db["boletos"].insert_many(
        [
            {"_id": issued, "charge": {"pagador": payer}, "inter": {"codigo_solicitacao": "c1"}},
            {"_id": pending, "charge": {"pagador": payer}, "inter": {}},
        ]
    )
    repo = BoletoRepository(db)
    assert await repo.forget_issued_payers() >= 1
    assert await stored_payer(db, issued) is None
    assert await stored_payer(db, pending) == payer  # its issue still needs it
    assert await repo.forget_issued_payers() == 0


async def test_a_payment_callback_that_never_arrived_is_recovered_from_the_history(
    system: System, api: httpx.AsyncClient, admin: httpx.AsyncClient, bank: httpx.AsyncClient
) -> None:
    boleto_id = (await api.post("/v1/boletos", json=charge_body(seuNumero="MISSED-1"))).json()["id"]
    await pdf_ready(api, boleto_id)
    codigo = (await api.get(f"/v1/boletos/{boleto_id}")).json()["inter"]["codigo_solicitacao"]
    hook = f"{system.boleto_url}/v1/inter/webhook"
    failed_before = (await stats(bank))["webhook"]["failed"]
    # the bank's callbacks reach us with a secret we refuse (401): none is delivered
    await bank.put(f"{CHARGES}/webhook", json={"webhookUrl": f"{hook}?token=stale"})
    try:
        assert (await bank.post(f"{CHARGES}/{codigo}/pagar")).status_code == 204
        for _ in range(100):
            if (await stats(bank))["webhook"]["failed"] > failed_before:
                break
            await asyncio.sleep(0.1)
    finally:
        await bank.put(f"{CHARGES}/webhook", json={"webhookUrl": f"{hook}?token={SECRET}"})
    await asyncio.sleep(1)  # the worker's checks run every 0.5 s: none was asked
    record = (await api.get(f"/v1/boletos/{boleto_id}")).json()
    assert record["status"] == "A_RECEBER" and len(record["pdf"]["versions"]) == 1

    run = await reconciled(admin)
    assert run["callbacks_read"] >= 2 and run["checks_requested"] == 1, run
    record = await record_when(
        api, boleto_id, lambda r: r["status"] == "RECEBIDO" and len(r["pdf"]["versions"]) == 2
    )
    assert record["pdf"]["current"]["version"] == 2
    assert (await reconciled(admin))["checks_requested"] == 0  # recovered once


async def test_admins_read_the_banks_summary(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, bank: httpx.AsyncClient
) -> None:
    boleto_id = (await api.post("/v1/boletos", json=charge_body(seuNumero="SUM-1"))).json()["id"]
    await pdf_ready(api, boleto_id)
    await reconciled(admin)
    assert (await api.get("/v1/boletos/summary")).status_code == 403
    summary = await admin.get("/v1/boletos/summary")
    assert summary.status_code == 200, summary.text
    body = summary.json()
    direct = await bank.get(f"{CHARGES}/sumario", params=body["filters"])
    assert direct.status_code == 200, direct.text
    assert body["situacoes"] == direct.json()
    receivable = {s["situacao"]: s for s in body["situacoes"]}["A_RECEBER"]
    assert receivable["quantidade"] >= 1 and receivable["valor"] >= 100.5
