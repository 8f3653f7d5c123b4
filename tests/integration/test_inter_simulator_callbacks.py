"""The Banco Inter simulator's callback history: ``GET /cobrancas/webhook/callbacks``."""

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.inter import (
    CHARGES,
    assert_problem,
    callback_receiver,
    callbacks_settled,
    configure,
    issued,
    simulator_client,
    stats,
    token,
    wait_situacao,
)

pytestmark = pytest.mark.timeout(60)
HISTORY = f"{CHARGES}/webhook/callbacks"
SIMULATOR = {
    "processing_delay_seconds": 0,
    "allow_http_webhooks": True,
    "webhook_retry_delay_seconds": 0.05,
    "limits": {"webhook": 10, "callbacks": 20},
}


def period(**shift: float) -> dict[str, str]:
    """An hour either side of now, in the bank's ``YYYY-MM-DDTHH:MM:SSZ`` form."""
    now = datetime.now(UTC) + timedelta(**shift)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "dataHoraInicio": (now - timedelta(hours=1)).strftime(fmt),
        "dataHoraFim": (now + timedelta(hours=1)).strftime(fmt),
    }


async def history(sim: httpx.AsyncClient, auth: dict[str, str], **params: Any) -> Any:
    response = await sim.get(HISTORY, params=period() | params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def test_every_attempt_is_recorded_and_can_be_filtered_and_paged() -> None:
    async with (
        simulator_client(**SIMULATOR) as sim,
        callback_receiver([500]) as (url, _),
    ):
        auth = await token(sim)
        put = await sim.put(f"{CHARGES}/webhook", json={"webhookUrl": url}, headers=auth)
        assert put.status_code == 204
        paid, cancelled = await issued(sim, auth), await issued(sim, auth, seuNumero="P-2")
        await wait_situacao(sim, auth, paid, "A_RECEBER")
        await wait_situacao(sim, auth, cancelled, "A_RECEBER")
        assert (await sim.post(f"{CHARGES}/{paid}/pagar", headers=auth)).status_code == 204
        await callbacks_settled(sim, 2)  # the first answered 500, the retry 200
        reason = {"motivoCancelamento": "Cliente desistiu"}
        await sim.post(f"{CHARGES}/{cancelled}/cancelar", json=reason, headers=auth)
        await callbacks_settled(sim, 3)

        page = await history(sim, auth)
        assert {k: v for k, v in page.items() if k != "data"} == {
            "totalPaginas": 1,
            "totalElementos": 3,
            "ultimaPagina": True,
            "primeiraPagina": True,
            "tamanhoPagina": 100,
            "numeroDeElementos": 3,
        }
        failed, retried, other = page["data"]
        assert failed | {"dataHoraDisparo": None, "payload": None} == {
            "webhookUrl": url,
            "numeroTentativa": 1,
            "dataHoraDisparo": None,
            "sucesso": False,
            "httpStatus": 500,
            "mensagemErro": failed["mensagemErro"],
            "payload": None,
        }
        assert "500" in failed["mensagemErro"]
        assert retried["numeroTentativa"] == 2 and retried["sucesso"] is True
        assert retried["httpStatus"] == 200 and retried["mensagemErro"] is None
        assert failed["payload"] == retried["payload"]
        [item] = retried["payload"]
        assert item["codigoSolicitacao"] == paid and item["situacao"] == "RECEBIDO"
        assert other["payload"][0]["situacao"] == "CANCELADO"
        fired = [datetime.fromisoformat(entry["dataHoraDisparo"]) for entry in page["data"]]
        assert fired == sorted(fired) and all(moment.tzinfo for moment in fired)

        only = await history(sim, auth, codigoSolicitacao=cancelled)
        assert only["totalElementos"] == 1 and only["data"][0]["payload"][0]["seuNumero"] == "P-2"
        none = await history(sim, auth, codigoSolicitacao="no-such-charge")
        assert none["totalElementos"] == 0 and none["data"] == []
        assert (await history(sim, auth, **period(hours=-3)))["totalElementos"] == 0

        second = await history(sim, auth, pagina=1, itensPorPagina=2)
        assert (second["totalPaginas"], second["numeroDeElementos"]) == (2, 1)
        assert second["ultimaPagina"] is True and second["primeiraPagina"] is False
        assert second["data"][0]["payload"][0]["codigoSolicitacao"] == cancelled


async def test_an_unreachable_receiver_is_recorded_without_a_status() -> None:
    with socket.socket() as closed:  # a port nobody listens on once closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    async with simulator_client(**SIMULATOR | {"webhook_retries": 0}) as sim:
        auth = await token(sim)
        target = {"webhookUrl": f"http://127.0.0.1:{port}/callback"}
        assert (await sim.put(f"{CHARGES}/webhook", json=target, headers=auth)).status_code == 204
        codigo = await issued(sim, auth)
        await wait_situacao(sim, auth, codigo, "A_RECEBER")
        await sim.post(f"{CHARGES}/{codigo}/pagar", headers=auth)
        assert (await callbacks_settled(sim, 1))["failed"] == 1

        [attempt] = (await history(sim, auth))["data"]
        assert attempt["sucesso"] is False and attempt["httpStatus"] is None
        assert attempt["mensagemErro"] and attempt["numeroTentativa"] == 1


async def test_period_is_required_and_ordered_and_the_route_has_a_limit() -> None:
    async with simulator_client(**SIMULATOR) as sim:
        auth = await token(sim)
        start_only = {"dataHoraInicio": period()["dataHoraInicio"]}
        assert_problem(await sim.get(HISTORY, params=start_only, headers=auth), 400, "dataHoraFim")
        backwards = {
            "dataHoraInicio": "2099-01-02T00:00:00Z",
            "dataHoraFim": "2099-01-01T00:00:00Z",
        }
        assert_problem(
            await sim.get(HISTORY, params=backwards, headers=auth), 400, "dataHoraInicio"
        )
        not_a_moment = period() | {"dataHoraFim": "amanhã"}
        assert_problem(
            await sim.get(HISTORY, params=not_a_moment, headers=auth), 400, "dataHoraFim"
        )
        too_big = period() | {"itensPorPagina": 1001}
        assert_problem(await sim.get(HISTORY, params=too_big, headers=auth), 400, "itensPorPagina")
        assert_problem(await sim.get(HISTORY, params=period()), 401)

        await configure(sim, limits={"callbacks": 1})
        before = (await stats(sim))["groups"]["callbacks"]["accepted"]
        assert before == 5
        assert (await sim.get(HISTORY, params=period(), headers=auth)).status_code == 429
        groups = (await stats(sim))["groups"]
        assert groups["callbacks"]["throttled"] == 1
        assert groups["webhook"]["accepted"] == 0 and groups["get"]["accepted"] == 0
