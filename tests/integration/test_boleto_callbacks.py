"""The bank's callbacks are hints nobody can forge: without the secret they are refused before
any work; with it, the charge is fetched from the bank (one GET) and only the bank's status is
kept; a burst of callbacks for one charge makes one PDF re-sync. In production, boleto-sync
does not start without a callback secret."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from system import System

from boleto_sync.app import create_app
from boleto_sync.bootstrap import NoCallbackSecret, worker
from boleto_sync.settings import BoletoSettings
from shared.bootstrap import Infra
from shared.settings import InfraSettings
from tests.support import boleto
from tests.support.infra import system_of_components
from tests.support.inter import charge_body, pdf_ready, registered_bank, stats

pytestmark = pytest.mark.timeout(180)
SECRET = f"cb-{uuid.uuid4().hex}"
api = boleto.api  # fixture: boleto-sync's API as the tenant


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with system_of_components(
        tmp_path_factory.mktemp("boleto-callbacks"),
        boleto=True,
        MONGODB_DB="boleto_callbacks",
        BOLETO_WEBHOOK_TOKEN=SECRET,
        INTER_SIM_PROCESSING_DELAY_SECONDS="0.2",
        BOLETO_PROCESSING_POLL_S="0.1",
    ) as running:
        yield running


@pytest.fixture
async def bank(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with registered_bank(system.simulator_url, SECRET) as client:
        yield client


async def issued_boleto(api: httpx.AsyncClient) -> dict[str, Any]:
    body = charge_body(seuNumero=f"C{uuid.uuid4().hex[:12]}")
    boleto_id = (await api.post("/v1/boletos", json=body)).json()["id"]
    await pdf_ready(api, boleto_id)
    return (await api.get(f"/v1/boletos/{boleto_id}")).json()  # type: ignore[no-any-return]


async def calls(bank: httpx.AsyncClient, group: str) -> int:
    return int((await stats(bank))["groups"][group]["accepted"])


async def callback(
    system: System, items: list[dict[str, Any]], secret: str | None = SECRET
) -> httpx.Response:
    params = {} if secret is None else {"token": secret}
    async with httpx.AsyncClient(base_url=system.boleto_url, timeout=30) as anyone:
        return await anyone.post("/v1/inter/webhook", json=items, params=params)


async def settled(api: httpx.AsyncClient, bank: httpx.AsyncClient, boleto_id: str) -> None:
    """Wait until the worker has no check or sync of this boleto left (bank calls stop)."""
    checks = 0
    for _ in range(100):
        record = (await api.get(f"/v1/boletos/{boleto_id}")).json()
        if not record["pdf"]["sync_job_id"]:
            checks += 1
            if checks >= 5:  # 2.5 s of quiet: more than the worker's 0.5 s check interval
                return
        else:
            checks = 0
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET[:-1]])
async def test_a_callback_without_the_secret_is_refused_and_spends_no_bank_call(
    system: System, api: httpx.AsyncClient, bank: httpx.AsyncClient, secret: str | None
) -> None:
    boleto = await issued_boleto(api)
    await settled(api, bank, boleto["id"])
    gets = await calls(bank, "get")
    forged = [{"codigoSolicitacao": boleto["inter"]["codigo_solicitacao"], "situacao": "RECEBIDO"}]
    response = await callback(system, forged, secret)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    await asyncio.sleep(2)  # four check intervals of the worker
    assert await calls(bank, "get") == gets
    record = (await api.get(f"/v1/boletos/{boleto['id']}")).json()
    assert record["status"] == "A_RECEBER" and len(record["pdf"]["versions"]) == 1


async def test_a_status_the_bank_does_not_confirm_changes_nothing_after_one_get(
    system: System, api: httpx.AsyncClient, bank: httpx.AsyncClient
) -> None:
    boleto = await issued_boleto(api)
    await settled(api, bank, boleto["id"])
    before = {group: await calls(bank, group) for group in ("get", "pdf", "list")}
    codigo = boleto["inter"]["codigo_solicitacao"]
    forged = [{"codigoSolicitacao": codigo, "situacao": s} for s in ("RECEBIDO", "CANCELADO")]
    response = await callback(system, forged * 10)
    assert response.status_code == 200 and response.json() == {"received": 20, "to_check": 1}
    unknown = await callback(system, [{"codigoSolicitacao": "nope", "situacao": "RECEBIDO"}])
    assert unknown.json() == {"received": 1, "to_check": 0}
    for _ in range(100):
        if await calls(bank, "get") > before["get"]:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # any further call would come within four check intervals
    after = {group: await calls(bank, group) for group in ("get", "pdf", "list")}
    # one check, unless a callback arrived while it ran (then one more, never one per entry)
    assert after["get"] - before["get"] in (1, 2), (before, after)
    assert (after["pdf"], after["list"]) == (before["pdf"], before["list"])
    record = (await api.get(f"/v1/boletos/{boleto['id']}")).json()
    assert record["status"] == "A_RECEBER" and len(record["pdf"]["versions"]) == 1


async def test_a_burst_of_callbacks_for_a_paid_charge_makes_one_resync(
    system: System, api: httpx.AsyncClient, bank: httpx.AsyncClient
) -> None:
    boleto = await issued_boleto(api)
    await settled(api, bank, boleto["id"])
    pdfs = await calls(bank, "pdf")
    codigo = boleto["inter"]["codigo_solicitacao"]
    paid = await bank.post(f"/cobranca/v3/cobrancas/{codigo}/pagar")
    assert paid.status_code == 204, paid.text
    burst = [{"codigoSolicitacao": codigo, "situacao": "RECEBIDO"}]
    answers = await asyncio.gather(*(callback(system, burst) for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    for _ in range(100):
        record = (await api.get(f"/v1/boletos/{boleto['id']}")).json()
        if record["status"] == "RECEBIDO" and record["pdf"]["current"]["version"] == 2:
            break
        await asyncio.sleep(0.2)
    await settled(api, bank, boleto["id"])
    record = (await api.get(f"/v1/boletos/{boleto['id']}")).json()
    assert record["status"] == "RECEBIDO"
    assert [v["version"] for v in record["pdf"]["versions"]] == [1, 2]  # one re-sync
    assert await calls(bank, "pdf") == pdfs + 1


async def test_production_without_a_callback_secret_does_not_start(
    infra_settings: InfraSettings, infra: Infra
) -> None:
    production = infra_settings.model_copy(update={"environment": "production"})
    for secret in (None, "", "short"):
        app = create_app(production, BoletoSettings(webhook_token=secret))
        with pytest.raises(NoCallbackSecret, match="BOLETO_WEBHOOK_TOKEN must be set"):
            async with app.router.lifespan_context(app):
                pass
        prod_infra = await Infra.open(production)
        try:
            with pytest.raises(NoCallbackSecret):
                await worker(prod_infra, BoletoSettings(webhook_token=secret))
        finally:
            await prod_infra.close()
    app = create_app(production, BoletoSettings(webhook_token=SECRET))
    async with app.router.lifespan_context(app):
        pass
