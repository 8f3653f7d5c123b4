"""The Banco Inter simulator takes the official SDK's payloads (every key sent, nulls included),
validates them against the bank's lists, and answers with one shape and in Portuguese."""

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.support import inter
from tests.support.inter import (
    CHARGES,
    CNPJ,
    assert_problem,
    callback_receiver,
    callbacks_settled,
    charge_body,
    configure,
    issued,
    simulator_client,
    token,
    wait_situacao,
)

pytestmark = pytest.mark.timeout(60)
sim, auth = inter.sim, inter.auth  # fixtures: a fresh simulator, a token for it
NO_AMOUNTS = {"taxa": None, "valor": None}
BENEFICIARIO = {
    "cpfCnpj": CNPJ,
    "tipoPessoa": "JURIDICA",
    "nome": "Imobiliária Horizonte Ltda",
    "endereco": "Av. Afonso Pena, 1000",
    "numero": None,
    "complemento": None,
    "bairro": "Centro",
    "cidade": "Belo Horizonte",
    "uf": "MG",
    "cep": "30130000",
    "email": None,
    "ddd": None,
    "telefone": None,
}


def sdk_body(**overrides: Any) -> dict[str, Any]:
    """A charge as the SDK's ``BillingIssueRequest.to_dict()`` sends it: every key present."""
    body = charge_body(
        pagador={"numero": None, "complemento": None, "bairro": None, "email": None},
        mensagem={"linha1": "Aluguel", "linha2": None, "linha3": None, "linha4": None},
        desconto=None,
        multa={"codigo": "NAOTEMMULTA", **NO_AMOUNTS},
        mora={"codigo": "ISENTO", **NO_AMOUNTS},
        beneficiarioFinal=None,
        formasRecebimento=None,
    )
    return body | overrides


async def view(sim: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]) -> Any:
    response = await sim.post(CHARGES, json=body, headers=auth)
    assert response.status_code == 200, response.text
    codigo = response.json()["codigoSolicitacao"]
    return await wait_situacao(sim, auth, codigo, "A_RECEBER")


async def test_the_sdks_nulls_are_accepted(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await configure(sim, processing_delay_seconds=0)
    cobranca = (await view(sim, auth, sdk_body()))["cobranca"]
    assert cobranca["multa"] == {"codigo": "NAOTEMMULTA"}
    assert cobranca["mora"] == {"codigo": "ISENTO"}
    assert "descontos" not in cobranca and "beneficiarioFinal" not in cobranca

    no_rate = {"codigo": "VALORFIXODATAINFORMADA", "quantidadeDias": None, "taxa": None}
    body = sdk_body(seuNumero="N-2", desconto=no_rate | {"valor": 5.5})
    assert (await view(sim, auth, body))["cobranca"]["descontos"] == [
        {"codigo": "VALORFIXODATAINFORMADA", "valor": 5.5}
    ]


async def test_amounts_are_numbers_in_every_view(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await configure(sim, processing_delay_seconds=0)
    body = sdk_body(
        desconto={"codigo": "PERCENTUALDATAINFORMADA", "quantidadeDias": 3, "taxa": 1.5},
        multa={"codigo": "PERCENTUAL", "taxa": 2, "valor": None},
        mora={"codigo": "VALORDIA", "taxa": None, "valor": 0.35},
    )
    cobranca = (await view(sim, auth, body))["cobranca"]
    assert cobranca["descontos"] == [
        {"codigo": "PERCENTUALDATAINFORMADA", "quantidadeDias": 3, "taxa": 1.5}
    ]
    assert cobranca["multa"] == {"codigo": "PERCENTUAL", "taxa": 2.0}
    assert cobranca["mora"] == {"codigo": "VALORDIA", "valor": 0.35}
    page = await sim.get(
        CHARGES,
        params={"dataInicial": cobranca["dataVencimento"], "dataFinal": cobranca["dataVencimento"]},
        headers=auth,
    )
    assert page.json()["cobrancas"][0]["cobranca"]["multa"] == cobranca["multa"]


@asynccontextmanager
async def simulator_with_webhook() -> AsyncIterator[
    tuple[httpx.AsyncClient, dict[str, str], asyncio.Queue[Any]]
]:
    """A fresh simulator with a token, its callbacks registered to a receiver (the queue)."""
    async with (
        simulator_client(processing_delay_seconds=0, allow_http_webhooks=True) as sim,
        callback_receiver([]) as (url, received),
    ):
        auth = await token(sim)
        await sim.put(f"{CHARGES}/webhook", json={"webhookUrl": url}, headers=auth)
        yield sim, auth, received


async def test_valor_nominal_is_a_number_in_callbacks_as_in_get() -> None:
    async with simulator_with_webhook() as (sim, auth, received):
        codigo = await issued(sim, auth, valorNominal=100)
        got = (await wait_situacao(sim, auth, codigo, "A_RECEBER"))["cobranca"]
        await sim.post(f"{CHARGES}/{codigo}/pagar", headers=auth)
        [item] = await asyncio.wait_for(received.get(), 5)
        assert item["valorNominal"] == got["valorNominal"] == 100.0
        assert isinstance(item["valorNominal"], float)
        paid = (await sim.get(f"{CHARGES}/{codigo}", headers=auth)).json()["cobranca"]
        assert item["valorTotalRecebido"] == paid["valorTotalRecebido"] == "100"


_OUTSIDE_THE_LISTS: dict[str, tuple[dict[str, Any], str]] = {
    "desconto code": (
        {"desconto": {"codigo": "DESCONTOESPECIAL", "quantidadeDias": 0, "taxa": 1}},
        "desconto.codigo",
    ),
    "desconto code the SDK does not know": (
        {"desconto": {"codigo": "VALORANTECIPACAODIACORRIDO", "valor": 1}},
        "desconto.codigo",
    ),
    "multa code": ({"multa": {"codigo": "PERCENTUALDIA", "taxa": 1}}, "multa.codigo"),
    "mora code": ({"mora": {"codigo": "TAXADIARIA", "taxa": 1}}, "mora.codigo"),
    "percent fine without taxa": ({"multa": {"codigo": "PERCENTUAL", **NO_AMOUNTS}}, "multa.taxa"),
    "fixed fine without valor": (
        {"multa": {"codigo": "VALORFIXO", "taxa": 2, "valor": None}},
        "multa.valor",
    ),
    "monthly interest without taxa": ({"mora": {"codigo": "TAXAMENSAL"}}, "mora.taxa"),
    "daily interest of zero": ({"mora": {"codigo": "VALORDIA", "valor": 0}}, "mora.valor"),
    "percent discount without taxa": (
        {"desconto": {"codigo": "PERCENTUALDATAINFORMADA", "quantidadeDias": 0, **NO_AMOUNTS}},
        "desconto.taxa",
    ),
    "receiving form": ({"formasRecebimento": ["BOLETO", "CARTAO"]}, "formasRecebimento.1"),
    "no receiving form": ({"formasRecebimento": []}, "formasRecebimento"),
}


@pytest.mark.parametrize("case", _OUTSIDE_THE_LISTS, ids=list(_OUTSIDE_THE_LISTS))
async def test_codes_and_amounts_follow_the_banks_lists(
    sim: httpx.AsyncClient, auth: dict[str, str], case: str
) -> None:
    overrides, prop = _OUTSIDE_THE_LISTS[case]
    assert_problem(await sim.post(CHARGES, json=sdk_body(**overrides), headers=auth), 400, prop)


@pytest.mark.parametrize(
    "codigo",
    [
        "NAOTEMDESCONTO",
        "VALORFIXODATAINFORMADA",
        "PERCENTUALDATAINFORMADA",
        "VALORANTECIPACAODIAUTIL",
        "PERCENTUALVALORNOMINALDIACORRIDO",
        "PERCENTUALVALORNOMINALDIAUTIL",
    ],
)
async def test_every_desconto_code_of_the_bank_is_taken(
    sim: httpx.AsyncClient, auth: dict[str, str], codigo: str
) -> None:
    amount = {"taxa": 1.0} if codigo.startswith("PERCENTUAL") else {"valor": 1.0}
    desconto = {"codigo": codigo, "quantidadeDias": 1} | (
        amount if codigo != "NAOTEMDESCONTO" else {}
    )
    response = await sim.post(CHARGES, json=sdk_body(desconto=desconto), headers=auth)
    assert response.status_code == 200, response.text


async def test_beneficiario_final_is_validated_stored_echoed_and_printed(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await configure(sim, processing_delay_seconds=0)
    bad_cpf = BENEFICIARIO | {"cpfCnpj": "52998224724", "tipoPessoa": "FISICA"}
    no_address = {k: v for k, v in BENEFICIARIO.items() if k not in ("endereco", "cidade")}
    for wrong, props in (
        (bad_cpf, ["beneficiarioFinal.cpfCnpj"]),
        (no_address, ["beneficiarioFinal.endereco", "beneficiarioFinal.cidade"]),
        (BENEFICIARIO | {"cep": "301"}, ["beneficiarioFinal.cep"]),
        (BENEFICIARIO | {"tipoPessoa": "FISICA"}, ["beneficiarioFinal.tipoPessoa"]),
    ):
        response = await sim.post(CHARGES, json=sdk_body(beneficiarioFinal=wrong), headers=auth)
        assert_problem(response, 400, *props)

    got = await view(sim, auth, sdk_body(beneficiarioFinal=BENEFICIARIO))
    echoed = got["cobranca"]["beneficiarioFinal"]
    assert echoed == {k: v for k, v in BENEFICIARIO.items() if v is not None}
    codigo = got["cobranca"]["codigoSolicitacao"]
    pdf = await sim.get(f"{CHARGES}/{codigo}/pdf", headers=auth)
    text = base64.b64decode(pdf.json()["pdf"])
    assert b"Beneficiario final: Imobili" in text and CNPJ.encode() in text


async def test_without_pix_in_formas_recebimento_there_is_no_pix() -> None:
    async with simulator_with_webhook() as (sim, auth, received):
        only_boleto = await view(sim, auth, sdk_body(formasRecebimento=["BOLETO"]))
        assert "pix" not in only_boleto and only_boleto["boleto"]["linhaDigitavel"]
        codigo = only_boleto["cobranca"]["codigoSolicitacao"]
        pdf = base64.b64decode(
            (await sim.get(f"{CHARGES}/{codigo}/pdf", headers=auth)).json()["pdf"]
        )
        assert b"Pix" not in pdf and only_boleto["boleto"]["linhaDigitavel"].encode() in pdf
        by_pix = await sim.post(f"{CHARGES}/{codigo}/pagar", json={"pagarCom": "PIX"}, headers=auth)
        assert_problem(by_pix, 400)
        assert (await sim.post(f"{CHARGES}/{codigo}/pagar", headers=auth)).status_code == 204
        [item] = await asyncio.wait_for(received.get(), 5)
        assert item["situacao"] == "RECEBIDO" and item["linhaDigitavel"]
        assert "txid" not in item and "pixCopiaECola" not in item
        await callbacks_settled(sim, 1)

        both = await view(sim, auth, sdk_body(seuNumero="P-2", formasRecebimento=["BOLETO", "PIX"]))
        assert both["pix"]["pixCopiaECola"].startswith("000201")


# pydantic's English that must never reach a client
_ENGLISH = re.compile(r"Input should|should be|Field required|Value error|valid |must |not a ")


@pytest.mark.parametrize(
    "body",
    [
        sdk_body(valorNominal="cem"),
        sdk_body(valorNominal=True),
        sdk_body(numDiasAgenda="trinta"),
        sdk_body(numDiasAgenda=1.5),
        sdk_body(pagador="João"),
        sdk_body(mensagem=["linha"]),
        sdk_body(formasRecebimento="BOLETO"),
        sdk_body(seuNumero=15),
        sdk_body(dataVencimento="amanhã"),
        sdk_body(multa={"codigo": "PERCENTUAL", "taxa": "dois"}),
        sdk_body(mora={"codigo": "TAXAMENSAL", "taxa": 1.234}),
        sdk_body(desconto={"codigo": "X", "quantidadeDias": -1, "taxa": 10**12}),
        sdk_body(pagador={"tipoPessoa": "EMPRESA", "uf": None}),
        [],
    ],
    ids=lambda body: str(body)[:40] if isinstance(body, list) else None,
)
async def test_validation_messages_are_portuguese(
    sim: httpx.AsyncClient, auth: dict[str, str], body: Any
) -> None:
    response = await sim.post(CHARGES, json=body, headers=auth)
    assert_problem(response, 400)
    problem = response.json()
    assert problem["violacoes"], problem
    for text in (problem["title"], problem["detail"], *(v["razao"] for v in problem["violacoes"])):
        assert not _ENGLISH.search(text), problem


async def test_unknown_routes_and_methods_answer_in_portuguese(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    missing = await sim.get("/cobranca/v3/nada", headers=auth)
    assert_problem(missing, 404)
    assert missing.json()["detail"] == "Recurso não encontrado"
    wrong_method = await sim.patch(f"{CHARGES}/sumario", headers=auth)
    assert_problem(wrong_method, 405)
    assert wrong_method.json()["detail"] == "Método não permitido"
    limits = await sim.post("/_sim/config", json={"limits": {"nenhum": 1}})
    assert_problem(limits, 400)
    assert "grupos desconhecidos" in limits.json()["violacoes"][0]["razao"]
