"""The Banco Inter simulator's ``GET /cobrancas/sumario``: a bare array per situação."""

from typing import Any

import httpx
import pytest

from tests.support import inter
from tests.support.inter import CHARGES, assert_problem, configure, issued, stats

pytestmark = pytest.mark.timeout(60)
sim, auth = inter.sim, inter.auth  # fixtures: a fresh simulator, a token for it
WINDOW = {"dataInicial": "2099-03-01", "dataFinal": "2099-03-31"}


async def summary(sim: httpx.AsyncClient, auth: dict[str, str], **params: Any) -> Any:
    response = await sim.get(f"{CHARGES}/sumario", params=WINDOW | params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def test_summary_counts_and_adds_up_per_situacao(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await configure(sim, processing_delay_seconds=0)
    amounts = {"S-1": 100.5, "S-2": 20, "S-3": 7.25}
    codigos = {
        seu: await issued(sim, auth, seuNumero=seu, valorNominal=valor, dataVencimento="2099-03-10")
        for seu, valor in amounts.items()
    }
    await issued(sim, auth, seuNumero="OUTSIDE", dataVencimento="2099-04-10")
    cancel = {"motivoCancelamento": "Cliente desistiu"}
    response = await sim.post(f"{CHARGES}/{codigos['S-3']}/cancelar", json=cancel, headers=auth)
    assert response.status_code == 202

    assert await summary(sim, auth) == [
        {"situacao": "A_RECEBER", "quantidade": 2, "valor": 120.5},
        {"situacao": "CANCELADO", "quantidade": 1, "valor": 7.25},
    ]
    assert await summary(sim, auth, situacao="CANCELADO") == [
        {"situacao": "CANCELADO", "quantidade": 1, "valor": 7.25}
    ]
    assert await summary(sim, auth, seuNumero="S-2") == [
        {"situacao": "A_RECEBER", "quantidade": 1, "valor": 20.0}
    ]
    assert await summary(sim, auth, dataInicial="2099-05-01", dataFinal="2099-05-31") == []


async def test_summary_rejects_what_the_list_rejects(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    path = f"{CHARGES}/sumario"
    missing = await sim.get(path, params={"dataInicial": "2099-03-01"}, headers=auth)
    assert_problem(missing, 400, "dataFinal")
    reversed_period = {"dataInicial": "2099-03-31", "dataFinal": "2099-03-01"}
    assert_problem(await sim.get(path, params=reversed_period, headers=auth), 400, "dataInicial")
    unknown = await sim.get(path, params=WINDOW | {"situacao": "PAGO"}, headers=auth)
    assert_problem(unknown, 400, "situacao")
    assert_problem(await sim.get(path, params=WINDOW), 401)


async def test_summary_has_its_own_limit_and_is_not_a_charge_lookup(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await configure(sim, window_seconds=60, limits={"summary": 2})
    statuses = [
        (await sim.get(f"{CHARGES}/sumario", params=WINDOW, headers=auth)).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    groups = (await stats(sim))["groups"]
    assert (groups["summary"]["accepted"], groups["summary"]["throttled"]) == (2, 1)
    assert groups["get"]["accepted"] == groups["get"]["throttled"] == 0
    # the charge lookup's own limit is untouched by it
    assert (await sim.get(f"{CHARGES}/no-such-charge", headers=auth)).status_code == 404
