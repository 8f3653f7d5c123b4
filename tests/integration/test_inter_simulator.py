"""The Banco Inter simulator: the bank's contract, strict limits, faults and control API."""

import asyncio
import base64
import json
import re
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.support.inter import (
    CHARGES,
    CLIENT_ID,
    CNPJ,
    charge_body,
    configure,
    simulator_client,
    simulator_process,
    stats,
    token,
    write_tls_files,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    async with simulator_client(processing_delay_seconds=0.2) as client:
        yield client


@pytest.fixture
async def auth(sim: httpx.AsyncClient) -> dict[str, str]:
    return await token(sim)


async def issued(sim: httpx.AsyncClient, auth: dict[str, str], **overrides: Any) -> str:
    response = await sim.post(CHARGES, json=charge_body(**overrides), headers=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["codigoSolicitacao"])


async def wait_situacao(
    sim: httpx.AsyncClient, auth: dict[str, str], codigo: str, situacao: str
) -> dict[str, Any]:
    for _ in range(100):
        view: dict[str, Any] = (await sim.get(f"{CHARGES}/{codigo}", headers=auth)).json()
        if view["cobranca"]["situacao"] == situacao:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"{codigo} never reached {situacao}")


def assert_problem(response: httpx.Response, status: int, *properties: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    found = {violation["propriedade"] for violation in body.get("violacoes", [])}
    assert set(properties) <= found, body


# --- OAuth -----------------------------------------------------------------------------------


async def test_token_flow_and_bearer_checks(sim: httpx.AsyncClient) -> None:
    form = {"client_id": CLIENT_ID, "client_secret": "wrong", "grant_type": "client_credentials"}
    assert_problem(await sim.post("/oauth/v2/token", data=form), 401)
    assert_problem(await sim.post("/oauth/v2/token", data={"client_id": CLIENT_ID}), 400)

    response = await sim.post(
        "/oauth/v2/token",
        data={**form, "client_secret": "sim-secret", "scope": "boleto-cobranca.read"},
    )
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "boleto-cobranca.read" and body["access_token"]
    read_only = {"Authorization": f"Bearer {body['access_token']}"}

    assert_problem(await sim.get(f"{CHARGES}/x"), 401)
    assert_problem(await sim.get(f"{CHARGES}/x", headers={"Authorization": "Bearer nope"}), 401)
    assert_problem(await sim.get(f"{CHARGES}/x", headers=read_only), 404)
    assert_problem(await sim.post(CHARGES, json=charge_body(), headers=read_only), 403)

    assert (await sim.post("/_sim/tokens/expire")).status_code == 204
    assert_problem(await sim.get(f"{CHARGES}/x", headers=read_only), 401)


async def test_token_endpoint_allows_five_calls_a_minute(sim: httpx.AsyncClient) -> None:
    for _ in range(5):
        await token(sim)
    response = await sim.post("/oauth/v2/token", data={"client_id": CLIENT_ID})
    assert_problem(response, 429)
    assert 55 <= int(response.headers["retry-after"]) <= 60
    counters = (await stats(sim))["groups"]["token"]
    assert counters | {"faults": None} == {
        "limit": 5,
        "accepted": 5,
        "throttled": 1,
        "max_in_window": 5,
        "in_window": 5,
        "faults": None,
    }


async def test_account_header_must_match_when_configured() -> None:
    async with simulator_client(conta_corrente="12345678") as sim:
        auth = await token(sim)
        ours = await sim.get(f"{CHARGES}/x", headers=auth | {"x-conta-corrente": "12345678"})
        assert_problem(ours, 404)
        other = await sim.get(f"{CHARGES}/x", headers=auth | {"x-conta-corrente": "999"})
        assert_problem(other, 403)


# --- Charges ---------------------------------------------------------------------------------


async def test_issue_is_asynchronous_and_the_pdf_follows(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
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


# --- Webhook ---------------------------------------------------------------------------------


@asynccontextmanager
async def callback_receiver(
    statuses: list[int],
) -> AsyncIterator[tuple[str, asyncio.Queue[Any]]]:
    """A real HTTP server that records JSON bodies and answers ``statuses`` in turn, then 200."""
    received: asyncio.Queue[Any] = asyncio.Queue()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await received.put(json.loads(b"".join(chunks)))
        status = statuses.pop(0) if statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    listening = socket.create_server(("127.0.0.1", 0))  # connections queue until served
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        yield f"http://127.0.0.1:{port}/inter/callback", received
    finally:
        server.should_exit = True
        await task


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
        webhook = (await stats(sim))["webhook"]
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


# --- Rate limits -----------------------------------------------------------------------------


async def test_429_with_and_without_retry_after(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await configure(sim, window_seconds=1, limits={"get": 2})
    statuses = [(await sim.get(f"{CHARGES}/x", headers=auth)).status_code for _ in range(3)]
    assert statuses == [404, 404, 429]
    throttled = await sim.get(f"{CHARGES}/x", headers=auth)
    assert_problem(throttled, 429)
    assert throttled.headers["retry-after"] == "1"

    await configure(sim, retry_after=False)
    bare = await sim.get(f"{CHARGES}/x", headers=auth)
    assert bare.status_code == 429 and "retry-after" not in bare.headers

    await asyncio.sleep(1.05)
    assert (await sim.get(f"{CHARGES}/x", headers=auth)).status_code == 404
    counters = (await stats(sim))["groups"]["get"]
    assert (counters["accepted"], counters["throttled"], counters["max_in_window"]) == (3, 3, 2)


async def test_sliding_window_never_holds_more_than_the_limit(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    limit, window = 10, 0.5
    await configure(sim, window_seconds=window, limits={"get": limit})
    accepted_at: list[float] = []

    async def one() -> None:
        response = await sim.get(f"{CHARGES}/x", headers=auth)
        if response.status_code != 429:
            accepted_at.append(time.monotonic())

    started, sent = time.monotonic(), 0
    while time.monotonic() - started < 2.0:  # bursts straddling window boundaries
        await asyncio.gather(*(one() for _ in range(7)))
        sent += 7
        await asyncio.sleep(0.03)

    counters = (await stats(sim))["groups"]["get"]
    assert counters["accepted"] + counters["throttled"] == sent
    assert counters["max_in_window"] == limit
    assert counters["accepted"] >= limit * 4  # the limit was used, not starved
    assert counters["accepted"] == len(accepted_at)
    # seen from the client too, with a little slack for the time a response takes
    for i, at in enumerate(accepted_at):
        assert sum(at <= later < at + window * 0.9 for later in accepted_at[i:]) <= limit


async def test_original_profile_allows_five_requests_a_second_overall(
    sim: httpx.AsyncClient,
) -> None:
    config = await configure(sim, profile="original")
    assert config["global_limit"] == 5 and config["window_seconds"] == 1.0
    auth = await token(sim)  # the token call counts too
    paths = [f"{CHARGES}/x", f"{CHARGES}/x/pdf"] * 4
    statuses = [(await sim.get(path, headers=auth)).status_code for path in paths]
    assert statuses == [404] * 4 + [429] * 4
    assert (await stats(sim))["global"]["max_in_window"] == 5


# --- Faults ----------------------------------------------------------------------------------


async def test_server_errors_at_the_configured_rate(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await configure(
        sim, limits={"get": None}, faults={"seed": 7, "groups": {"get": {"error_rate": 0.3}}}
    )
    statuses = Counter(
        [(await sim.get(f"{CHARGES}/x", headers=auth)).status_code for _ in range(400)]
    )
    errors = sum(n for status, n in statuses.items() if status >= 500)
    assert set(statuses) <= {404, 500, 502, 503}
    assert 0.22 <= errors / 400 <= 0.38, statuses
    assert (await stats(sim))["groups"]["get"]["faults"]["error"] == errors
    other = [(await sim.get(f"{CHARGES}/x/pdf", headers=auth)).status_code for _ in range(20)]
    assert set(other) == {404}  # the override holds for its group only


async def test_malformed_bodies(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    codigo = await issued(sim, auth, seuNumero="M-1")
    whole = await wait_situacao(sim, auth, codigo, "A_RECEBER")
    await configure(sim, faults={"seed": 3, "malformed_rate": 1.0})
    kinds: Counter[str] = Counter()
    for _ in range(40):
        response = await sim.get(f"{CHARGES}/{codigo}", headers=auth)
        assert response.status_code == 200
        try:
            body = response.json()
        except ValueError:
            kinds["invalid json"] += 1
            continue
        missing = key_paths(whole) - key_paths(body)
        root = min(missing, key=len)  # one field gone, with whatever it held
        assert key_paths(body) < key_paths(whole)
        assert all(path == root or path.startswith(f"{root}.") for path in missing)
        kinds["missing field"] += 1
    assert kinds["invalid json"] > 5 and kinds["missing field"] > 5, kinds
    assert (await stats(sim))["groups"]["get"]["faults"]["malformed"] == 40


def key_paths(document: dict[str, Any]) -> set[str]:
    """Top-level keys and keys one level down, as ``outer.inner``."""
    paths = set(document)
    for key, value in document.items():
        if isinstance(value, dict):
            paths |= {f"{key}.{inner}" for inner in value}
    return paths


async def test_latency_and_timeouts(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await configure(sim, faults={"groups": {"get": {"latency_ms": 150, "jitter_ms": 50}}})
    started = time.monotonic()
    assert (await sim.get(f"{CHARGES}/x", headers=auth)).status_code == 404
    assert 0.15 <= time.monotonic() - started < 1.0

    await configure(sim, faults={"timeout_rate": 1.0, "timeout_seconds": 0.3, "groups": {}})
    started = time.monotonic()
    assert_problem(await sim.get(f"{CHARGES}/x", headers=auth), 504)
    assert time.monotonic() - started >= 0.3
    assert (await stats(sim))["groups"]["get"]["faults"]["timeout"] == 1


async def test_failed_issue_ends_in_falha_emissao(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await configure(sim, processing_delay_seconds=0, faults={"issue_failure_rate": 1.0})
    codigo = await issued(sim, auth)
    view = await wait_situacao(sim, auth, codigo, "FALHA_EMISSAO")
    assert "boleto" not in view
    assert_problem(await sim.get(f"{CHARGES}/{codigo}/pdf", headers=auth), 400)


async def test_invalid_control_input_is_refused(sim: httpx.AsyncClient) -> None:
    assert_problem(await sim.post("/_sim/config", json={"limits": {"nope": 1}}), 400)
    assert_problem(await sim.post("/_sim/config", json={"faults": {"error_rate": 2}}), 400)
    assert_problem(await sim.post("/_sim/config", json={"unknown": 1}), 400)


# --- Control API -----------------------------------------------------------------------------


async def test_reset_forgets_everything(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await issued(sim, auth)
    await configure(sim, limits={"get": 1}, faults={"error_rate": 0.5})
    before = await stats(sim)
    assert before["charges"]["total"] == 1 and before["groups"]["issue"]["accepted"] == 1

    config = (await sim.post("/_sim/reset")).json()
    assert config["limits"]["get"] == 120 and config["faults"]["error_rate"] == 0
    after = await stats(sim)
    assert after["charges"] == {"total": 0, "by_situacao": {}}
    assert all(group["accepted"] == 0 for group in after["groups"].values())
    assert_problem(await sim.get(f"{CHARGES}/x", headers=auth), 401)

    await configure(sim, limits={"get": 1})
    kept = (await sim.post("/_sim/reset", params={"keep_config": "true"})).json()
    assert kept["limits"]["get"] == 1


# --- As its own process, with mutual TLS ---------------------------------------------------


async def test_process_with_mutual_tls(tmp_path: Path) -> None:
    tls = write_tls_files(tmp_path / "tls")
    with simulator_process(
        tmp_path / "simulator.log",
        tls_cert_file=str(tls.server_cert),
        tls_key_file=str(tls.server_key),
        tls_ca_file=str(tls.ca),
        profile="original",
    ) as base_url:
        anonymous = httpx.AsyncClient(base_url=base_url, verify=tls.client_context(False))
        async with anonymous:
            with pytest.raises(httpx.TransportError):
                await anonymous.post("/oauth/v2/token", data={})
        async with httpx.AsyncClient(base_url=base_url, verify=tls.client_context()) as client:
            auth = await token(client)
            assert (await client.get(f"{CHARGES}/x", headers=auth)).status_code == 404
            assert (await stats(client))["global"]["limit"] == 5


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
