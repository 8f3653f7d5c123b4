"""The Banco Inter simulator's list: the SDK's filters and sorting, and the bank's lists only."""

from typing import Any

import httpx
import pytest

from tests.support import inter
from tests.support.inter import CHARGES, assert_problem, configure, issued

pytestmark = pytest.mark.timeout(60)
sim, auth = inter.sim, inter.auth  # fixtures: a fresh simulator, a token for it
WINDOW = {"dataInicial": "2099-02-01", "dataFinal": "2099-02-28"}
# issued in this order: seuNumero, payer's name, amount, due day
CHARGES_MADE = [
    ("B-1", "Carla Souza", 30.0, 12),
    ("B-2", "ana lima", 10.0, 20),
    ("B-3", "Bruno Alves", 20.0, 5),
]


@pytest.fixture
async def made(sim: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, str]:
    await configure(sim, processing_delay_seconds=0)
    return {
        seu: await issued(
            sim,
            auth,
            seuNumero=seu,
            valorNominal=valor,
            dataVencimento=f"2099-02-{day:02d}",
            pagador={"nome": nome},
        )
        for seu, nome, valor, day in CHARGES_MADE
    }


async def listed(sim: httpx.AsyncClient, auth: dict[str, str], **params: Any) -> list[str]:
    response = await sim.get(CHARGES, params=WINDOW | params, headers=auth)
    assert response.status_code == 200, response.text
    return [entry["cobranca"]["seuNumero"] for entry in response.json()["cobrancas"]]


async def test_payer_name_and_charge_type_filter(
    sim: httpx.AsyncClient, auth: dict[str, str], made: dict[str, str]
) -> None:
    assert await listed(sim, auth, pessoaPagadora="Ninguém Existe") == []
    assert await listed(sim, auth, pessoaPagadora="ANA LIMA") == ["B-2"]
    assert await listed(sim, auth, pessoaPagadora="souza") == ["B-1"]
    assert await listed(sim, auth, tipoCobranca="SIMPLES") == ["B-1", "B-2", "B-3"]
    assert await listed(sim, auth, tipoCobranca="PARCELADO") == []
    assert await listed(sim, auth, tipoCobranca="RECORRENTE") == []
    summary = await sim.get(
        f"{CHARGES}/sumario", params=WINDOW | {"pessoaPagadora": "Bruno"}, headers=auth
    )
    assert summary.json() == [{"situacao": "A_RECEBER", "quantidade": 1, "valor": 20.0}]


@pytest.mark.parametrize(
    ("ordenar_por", "ascending"),
    [
        ("PESSOA_PAGADORA", ["B-2", "B-3", "B-1"]),
        ("IDENTIFICADOR", ["B-1", "B-2", "B-3"]),
        ("DATA_VENCIMENTO", ["B-3", "B-1", "B-2"]),
        ("VALOR", ["B-2", "B-3", "B-1"]),
        ("DATA_EMISSAO", ["B-1", "B-2", "B-3"]),
    ],
)
async def test_sorting_both_ways(
    sim: httpx.AsyncClient,
    auth: dict[str, str],
    made: dict[str, str],
    ordenar_por: str,
    ascending: list[str],
) -> None:
    assert await listed(sim, auth, ordenarPor=ordenar_por) == ascending
    assert await listed(sim, auth, ordenarPor=ordenar_por, tipoOrdenacao="ASC") == ascending
    descending = await listed(sim, auth, ordenarPor=ordenar_por, tipoOrdenacao="DESC")
    assert descending == ascending[::-1]


async def test_sorting_by_code_and_status_and_across_pages(
    sim: httpx.AsyncClient, auth: dict[str, str], made: dict[str, str]
) -> None:
    by_code = sorted(made, key=made.__getitem__)
    assert await listed(sim, auth, ordenarPor="CODIGO_COBRANCA") == by_code
    reason = {"motivoCancelamento": "Cliente desistiu"}
    await sim.post(f"{CHARGES}/{made['B-2']}/cancelar", json=reason, headers=auth)
    # A_RECEBER before CANCELADO, ties in creation order
    assert await listed(sim, auth, ordenarPor="STATUS") == ["B-1", "B-3", "B-2"]
    assert await listed(sim, auth, tipoOrdenacao="DESC") == ["B-3", "B-2", "B-1"]
    pages = [
        await listed(
            sim,
            auth,
            ordenarPor="VALOR",
            tipoOrdenacao="DESC",
            **{"paginacao.itensPorPagina": 2, "paginacao.paginaAtual": page},
        )
        for page in (0, 1)
    ]
    assert pages == [["B-1", "B-3"], ["B-2"]]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ordenarPor", "NOME"),
        ("ordenarPor", "valor"),
        ("tipoOrdenacao", "CRESCENTE"),
        ("tipoCobranca", "AVULSA"),
        ("filtrarDataPor", "CRIACAO"),
        ("situacao", "PAGO"),
    ],
)
async def test_values_outside_the_banks_lists_are_refused(
    sim: httpx.AsyncClient, auth: dict[str, str], name: str, value: str
) -> None:
    response = await sim.get(CHARGES, params=WINDOW | {name: value}, headers=auth)
    assert_problem(response, 400, name)
    [violation] = response.json()["violacoes"]
    assert violation["valor"] in (value, f'["{value}"]'), violation
    assert violation["razao"].startswith(("deve ser um de", "situação desconhecida"))
    if name not in ("ordenarPor", "tipoOrdenacao"):  # the summary takes the filters only
        summary = await sim.get(f"{CHARGES}/sumario", params=WINDOW | {name: value}, headers=auth)
        assert_problem(summary, 400, name)
