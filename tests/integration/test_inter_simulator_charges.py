"""The Banco Inter simulator's charges: issue, view, PDF, list, cancel, validation, duplicates."""

import base64
import re
from typing import Any

import httpx
import pytest

from tests.support import inter
from tests.support.inter import (
    CHARGES,
    CNPJ,
    assert_problem,
    charge_body,
    configure,
    issued,
    wait_situacao,
)

pytestmark = pytest.mark.timeout(60)
sim, auth = inter.sim, inter.auth  # fixtures: a fresh simulator, a token for it


async def test_issue_is_asynchronous_and_the_pdf_follows(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # long enough that the first read comes before it however loaded the machine is
    await configure(sim, processing_delay_seconds=2)
    codigo = await issued(sim, auth)
    first = (await sim.get(f"{CHARGES}/{codigo}", headers=auth)).json()
    assert first["cobranca"]["situacao"] == "EM_PROCESSAMENTO"
    assert "boleto" not in first and "pix" not in first
    assert_problem(await sim.get(f"{CHARGES}/{codigo}/pdf", headers=auth), 400)

    view = await wait_situacao(sim, auth, codigo, "A_RECEBER")
    cobranca, boleto = view["cobranca"], view["boleto"]
    assert cobranca["codigoSolicitacao"] == codigo and cobranca["seuNumero"] == "PROP-0001"
    assert cobranca["valorNominal"] == 100.5  # a number here...
    assert cobranca["valorTotalRecebido"] == "0"  # ...a string there, as the bank does
    assert cobranca["pagador"]["cpfCnpj"] == "52998224725" and cobranca["arquivada"] is False
    assert re.fullmatch(r"\d{44}", boleto["codigoBarras"])
    assert mod11(boleto["codigoBarras"][:4] + boleto["codigoBarras"][5:]) == int(
        boleto["codigoBarras"][4]
    )
    assert barcode_of(boleto["linhaDigitavel"]) == boleto["codigoBarras"]
    assert view["pix"]["txid"] and view["pix"]["pixCopiaECola"].startswith("000201")

    response = await sim.get(f"{CHARGES}/{codigo}/pdf", headers=auth)
    pdf = base64.b64decode(response.json()["pdf"], validate=True)
    assert_valid_pdf(pdf)
    assert boleto["nossoNumero"].encode() in pdf and boleto["linhaDigitavel"].encode() in pdf


async def test_unknown_charge_is_a_404_problem(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for path in ("", "/pdf"):
        assert_problem(await sim.get(f"{CHARGES}/no-such-charge{path}", headers=auth), 404)
    cancel = {"motivoCancelamento": "x"}
    assert_problem(await sim.post(f"{CHARGES}/nope/cancelar", json=cancel, headers=auth), 404)


async def test_list_filters_and_pages(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await configure(sim, processing_delay_seconds=0)
    for n in range(5):
        await issued(sim, auth, seuNumero=f"L-{n}", dataVencimento=f"2099-01-0{n + 1}")
    window = {"dataInicial": "2099-01-01", "dataFinal": "2099-01-31"}

    async def page(**params: Any) -> dict[str, Any]:
        response = await sim.get(CHARGES, params=window | params, headers=auth)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    last = await page(**{"paginacao.itensPorPagina": 2, "paginacao.paginaAtual": 2})
    assert {k: v for k, v in last.items() if k != "cobrancas"} == {
        "totalPaginas": 3,
        "totalElementos": 5,
        "ultimaPagina": True,
        "primeiraPagina": False,
        "tamanhoPagina": 2,
        "numeroDeElementos": 1,
    }
    assert last["cobrancas"][0]["cobranca"]["seuNumero"] == "L-4"
    assert (await page())["tamanhoPagina"] == 100
    narrow = await page(dataFinal="2099-01-02")
    assert [c["cobranca"]["seuNumero"] for c in narrow["cobrancas"]] == ["L-0", "L-1"]

    codigo = (await page(seuNumero="L-3"))["cobrancas"][0]["cobranca"]["codigoSolicitacao"]
    await sim.post(f"{CHARGES}/{codigo}/cancelar", json={"motivoCancelamento": "x"}, headers=auth)
    assert (await page(situacao="CANCELADO"))["totalElementos"] == 1
    assert (await page(situacao="A_RECEBER,ATRASADO"))["totalElementos"] == 4
    assert (await page(filtrarDataPor="PAGAMENTO"))["totalElementos"] == 0

    missing = await sim.get(CHARGES, params={"dataInicial": "2099-01-01"}, headers=auth)
    assert_problem(missing, 400, "dataFinal")
    too_big = await sim.get(
        CHARGES, params=window | {"paginacao.itensPorPagina": 1001}, headers=auth
    )
    assert_problem(too_big, 400, "paginacao.itensPorPagina")
    assert_problem(await sim.get(CHARGES, params=window | {"situacao": "X"}, headers=auth), 400)


async def test_cancel(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    codigo = await issued(sim, auth)
    reason = {"motivoCancelamento": "Cliente desistiu"}
    early = await sim.post(f"{CHARGES}/{codigo}/cancelar", json=reason, headers=auth)
    assert_problem(early, 400)
    await wait_situacao(sim, auth, codigo, "A_RECEBER")

    response = await sim.post(f"{CHARGES}/{codigo}/cancelar", json=reason, headers=auth)
    assert response.status_code == 202
    assert (await wait_situacao(sim, auth, codigo, "CANCELADO"))["cobranca"]["motivoCancelamento"]
    again = await sim.post(f"{CHARGES}/{codigo}/cancelar", json=reason, headers=auth)
    assert_problem(again, 400)
    no_reason = await sim.post(f"{CHARGES}/{codigo}/cancelar", json={}, headers=auth)
    assert_problem(no_reason, 400, "motivoCancelamento")


_INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "bad CPF": ({"pagador": {"cpfCnpj": "52998224724"}}, "pagador.cpfCnpj"),
    "bad CNPJ": (
        {"pagador": {"cpfCnpj": "11222333000180", "tipoPessoa": "JURIDICA"}},
        "pagador.cpfCnpj",
    ),
    "CPF as JURIDICA": ({"pagador": {"tipoPessoa": "JURIDICA"}}, "pagador.tipoPessoa"),
    "short CEP": ({"pagador": {"cep": "3011000"}}, "pagador.cep"),
    "CEP with letters": ({"pagador": {"cep": "3011000A"}}, "pagador.cep"),
    "bad UF": ({"pagador": {"uf": "XX"}}, "pagador.uf"),
    "zero amount": ({"valorNominal": 0}, "valorNominal"),
    "negative amount": ({"valorNominal": -10}, "valorNominal"),
    "three decimals": ({"valorNominal": 10.555}, "valorNominal"),
    "past due date": ({"dataVencimento": "2020-01-01"}, "dataVencimento"),
    "not a date": ({"dataVencimento": "31/12/2099"}, "dataVencimento"),
    "long seuNumero": ({"seuNumero": "X" * 16}, "seuNumero"),
    "days out of range": ({"numDiasAgenda": 61}, "numDiasAgenda"),
}


@pytest.mark.parametrize("case", _INVALID, ids=list(_INVALID))
async def test_validation_problems(sim: httpx.AsyncClient, auth: dict[str, str], case: str) -> None:
    overrides, prop = _INVALID[case]
    response = await sim.post(CHARGES, json=charge_body(**overrides), headers=auth)
    assert_problem(response, 400, prop)
    violation = next(v for v in response.json()["violacoes"] if v["propriedade"] == prop)
    assert violation["razao"] and "valor" in violation


async def test_missing_fields_are_named(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = charge_body()
    del body["pagador"]["nome"], body["numDiasAgenda"]
    response = await sim.post(CHARGES, json=body, headers=auth)
    assert_problem(response, 400, "pagador.nome", "numDiasAgenda")
    assert_problem(await sim.post(CHARGES, content=b"{not json", headers=auth), 400)


async def test_a_valid_cnpj_payer_is_accepted(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await issued(sim, auth, pagador={"cpfCnpj": CNPJ, "tipoPessoa": "JURIDICA"})


async def test_duplicates_are_refused(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await issued(sim, auth)
    assert_problem(await sim.post(CHARGES, json=charge_body(), headers=auth), 409)
    await issued(sim, auth, seuNumero="PROP-0002")
    await issued(sim, auth, valorNominal=100.51)


def barcode_of(linha: str) -> str:
    """Rebuild the 44-digit barcode from the 47-digit line, dropping the field check digits."""
    free = linha[4:9] + linha[10:20] + linha[21:31]
    return linha[:4] + linha[32] + linha[33:47] + free


def mod11(digits: str) -> int:
    check = 11 - sum(int(c) * (2 + i % 8) for i, c in enumerate(reversed(digits))) % 11
    return 1 if check in (0, 1, 10, 11) else check


def assert_valid_pdf(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-1.") and pdf.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[startxref:].startswith(b"xref")
    table = re.match(rb"xref\s+0 (\d+)\s+", pdf[startxref:])
    assert table is not None
    entries = pdf[startxref + table.end() :].split(b"\n")[: int(table.group(1))]
    assert entries[0].startswith(b"0000000000 65535 f")
    for number, entry in enumerate(entries[1:], start=1):
        offset = int(entry[:10])
        assert pdf[offset:].startswith(b"%d 0 obj" % number), number
    length = int(re.search(rb"/Length (\d+)", pdf).group(1))  # type: ignore[union-attr]
    stream_at = pdf.index(b"stream\n") + len(b"stream\n")
    assert pdf[stream_at + length :].startswith(b"\nendstream")
