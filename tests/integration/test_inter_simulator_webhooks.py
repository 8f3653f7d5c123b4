"""The Banco Inter simulator's webhook: registration, callbacks retried, https only."""

import asyncio

import httpx
import pytest

from tests.support import inter
from tests.support.inter import (
    CHARGES,
    assert_problem,
    callback_receiver,
    issued,
    simulator_client,
    stats,
    token,
    wait_situacao,
)

pytestmark = pytest.mark.timeout(60)
sim, auth = inter.sim, inter.auth  # fixtures: a fresh simulator, a token for it


async def test_webhook_registration_and_payment_callback() -> None:
    async with (
        simulator_client(
            processing_delay_seconds=0,
            allow_http_webhooks=True,
            webhook_retry_delay_seconds=0.05,
            limits={"webhook": 10},
        ) as sim,
        callback_receiver([500]) as (url, received),
    ):
        auth = await token(sim)
        assert_problem(await sim.get(f"{CHARGES}/webhook", headers=auth), 404)
        bad = await sim.put(f"{CHARGES}/webhook", json={"webhookUrl": "ftp://x"}, headers=auth)
        assert_problem(bad, 400, "webhookUrl")
        put = await sim.put(f"{CHARGES}/webhook", json={"webhookUrl": url}, headers=auth)
        assert put.status_code == 204
        assert (await sim.get(f"{CHARGES}/webhook", headers=auth)).json()["webhookUrl"] == url

        codigo = await issued(sim, auth)
        view = await wait_situacao(sim, auth, codigo, "A_RECEBER")
        assert (await sim.post(f"{CHARGES}/{codigo}/pagar", headers=auth)).status_code == 204

        first = await asyncio.wait_for(received.get(), 5)  # answered 500: the bank retries
        again = await asyncio.wait_for(received.get(), 5)
        assert first == again and len(again) == 1
        item = again[0]
        assert item["codigoSolicitacao"] == codigo and item["situacao"] == "RECEBIDO"
        assert item["valorTotalRecebido"] == "100.5" and item["origemRecebimento"] == "BOLETO"
        assert item["nossoNumero"] == view["boleto"]["nossoNumero"]
        assert item["linhaDigitavel"] == view["boleto"]["linhaDigitavel"]
        for name in ("seuNumero", "dataHoraSituacao", "codigoBarras", "txid", "pixCopiaECola"):
            assert item[name], name
        paid = (await sim.get(f"{CHARGES}/{codigo}", headers=auth)).json()["cobranca"]
        assert paid["situacao"] == "RECEBIDO" and paid["valorTotalRecebido"] == "100.5"
        # the receiver has the body before the bank has its answer: wait for the record
        for _ in range(50):
            webhook = (await stats(sim))["webhook"]
            if webhook["delivered"]:
                break
            await asyncio.sleep(0.05)
        assert webhook | {"url": None} == {
            "url": None,
            "pending": 0,
            "attempts": 2,
            "delivered": 1,
            "failed": 0,
        }

        assert (await sim.delete(f"{CHARGES}/webhook", headers=auth)).status_code == 204
        assert_problem(await sim.get(f"{CHARGES}/webhook", headers=auth), 404)


async def test_webhook_requires_https_by_default(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    plain = {"webhookUrl": "http://127.0.0.1:9/callback"}
    assert_problem(await sim.put(f"{CHARGES}/webhook", json=plain, headers=auth), 400)
    secure = {"webhookUrl": "https://example.com/callback"}
    assert (await sim.put(f"{CHARGES}/webhook", json=secure, headers=auth)).status_code == 204
