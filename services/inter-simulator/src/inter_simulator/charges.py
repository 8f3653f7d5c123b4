"""``/cobranca/v3/cobrancas``: issue, get, list, summary, PDF, cancel, webhook and its
callback history, and the sandbox's pay."""

import base64
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from inter_simulator.codes import (
    SITUACOES,
    FiltrarDataPor,
    OrdenarPor,
    TipoCobranca,
    TipoOrdenacao,
)
from inter_simulator.deps import Reader, Sim, Writer
from inter_simulator.pdf import boleto_pdf
from inter_simulator.problems import InterError, violation
from inter_simulator.render import (
    callback_item,
    callbacks_view,
    charge_view,
    page_view,
    summary_view,
)
from inter_simulator.schemas import (
    BRASILIA,
    CancelRequest,
    ChargeRequest,
    PayRequest,
    WebhookRequest,
)
from inter_simulator.simulator import Simulator
from inter_simulator.store import ChargeFilter, ordered

router = APIRouter(prefix="/cobranca/v3/cobrancas", tags=["cobrancas"])


@router.put("/webhook", status_code=204)
async def put_webhook(sim: Sim, _: Writer, body: WebhookRequest) -> Response:
    sim.webhooks.register(body.webhook_url)
    return Response(status_code=204)


@router.get("/webhook")
async def get_webhook(sim: Sim, _: Reader) -> dict[str, str]:
    return sim.webhooks.current().view()


@router.delete("/webhook", status_code=204)
async def delete_webhook(sim: Sim, _: Writer) -> Response:
    sim.webhooks.delete()
    return Response(status_code=204)


@router.post("")
async def issue(sim: Sim, _: Writer, body: ChargeRequest) -> dict[str, str]:
    return {"codigoSolicitacao": sim.store.issue(body).codigo}


async def charge_filter(
    data_inicial: Annotated[date, Query(alias="dataInicial")],
    data_final: Annotated[date, Query(alias="dataFinal")],
    filtrar_por: Annotated[FiltrarDataPor, Query(alias="filtrarDataPor")] = "VENCIMENTO",
    situacao: Annotated[list[str] | None, Query()] = None,
    seu_numero: Annotated[str | None, Query(alias="seuNumero")] = None,
    cpf_cnpj: Annotated[str | None, Query(alias="cpfCnpjPessoaPagadora")] = None,
    pessoa_pagadora: Annotated[str | None, Query(alias="pessoaPagadora")] = None,
    tipo_cobranca: Annotated[TipoCobranca | None, Query(alias="tipoCobranca")] = None,
) -> ChargeFilter:
    """The filters the list and the summary share."""
    if data_inicial > data_final:
        reason = "dataInicial deve ser anterior ou igual a dataFinal"
        raise InterError(400, "Período inválido", [violation(reason, "dataInicial", data_inicial)])
    return ChargeFilter(
        data_inicial,
        data_final,
        filtrar_por,
        _situacoes(situacao),
        seu_numero,
        cpf_cnpj,
        pessoa_pagadora,
        tipo_cobranca,
    )


Filtered = Annotated[ChargeFilter, Depends(charge_filter)]


@router.get("")
async def search(
    sim: Sim,
    _: Reader,
    wanted: Filtered,
    size: Annotated[int, Query(alias="paginacao.itensPorPagina", ge=1, le=1000)] = 100,
    page: Annotated[int, Query(alias="paginacao.paginaAtual", ge=0)] = 0,
    ordenar_por: Annotated[OrdenarPor | None, Query(alias="ordenarPor")] = None,
    tipo_ordenacao: Annotated[TipoOrdenacao, Query(alias="tipoOrdenacao")] = "ASC",
) -> dict[str, Any]:
    charges = ordered(sim.store.search(wanted), ordenar_por, tipo_ordenacao)
    return page_view(charges, page, size)


@router.get("/sumario")
async def summary(sim: Sim, _: Reader, wanted: Filtered) -> list[dict[str, Any]]:
    return summary_view(sim.store.search(wanted))


@router.get("/webhook/callbacks")
async def callbacks(
    sim: Sim,
    _: Reader,
    start: Annotated[datetime, Query(alias="dataHoraInicio")],
    end: Annotated[datetime, Query(alias="dataHoraFim")],
    codigo: Annotated[str | None, Query(alias="codigoSolicitacao")] = None,
    page: Annotated[int, Query(alias="pagina", ge=0)] = 0,
    size: Annotated[int, Query(alias="itensPorPagina", ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    start, end = _in_brasilia(start), _in_brasilia(end)
    if start > end:
        reason = "dataHoraInicio deve ser anterior ou igual a dataHoraFim"
        raise InterError(400, "Período inválido", [violation(reason, "dataHoraInicio", start)])
    return callbacks_view(sim.webhooks.attempts(start, end, codigo), page, size)


@router.get("/{codigo}")
async def get(sim: Sim, _: Reader, codigo: str) -> dict[str, Any]:
    return charge_view(sim.store.get(codigo))


@router.get("/{codigo}/pdf")
async def pdf(sim: Sim, _: Reader, codigo: str) -> dict[str, str]:
    charge = sim.store.get(codigo)
    if charge.numbers is None:
        raise InterError(400, f"PDF indisponível: cobrança em situação {charge.situacao}")
    return {"pdf": base64.b64encode(boleto_pdf(charge)).decode()}


@router.post("/{codigo}/cancelar", status_code=202)
async def cancel(sim: Sim, _: Writer, codigo: str, body: CancelRequest) -> Response:
    charge = sim.store.cancel(codigo, body.motivo_cancelamento)
    sim.webhooks.notify([callback_item(charge)])
    return Response(status_code=202)


@router.post("/{codigo}/pagar", status_code=204)
async def pay(sim: Sim, _: Writer, codigo: str, body: PayRequest | None = None) -> Response:
    """Sandbox only: settle the charge and fire the webhook callback."""
    settle(sim, codigo, body or PayRequest())
    return Response(status_code=204)


def settle(sim: Simulator, codigo: str, payment: PayRequest) -> None:
    """The charge paid, as the sandbox and the control API pay it, and its callback fired."""
    charge = sim.store.pay(codigo, payment)
    sim.webhooks.notify([callback_item(charge)])


def _in_brasilia(moment: datetime) -> datetime:
    """A moment without a zone is read as Brasília time, the bank's."""
    return moment.replace(tzinfo=BRASILIA) if moment.tzinfo is None else moment


def _situacoes(values: list[str] | None) -> frozenset[str]:
    wanted = frozenset(s.strip() for value in values or [] for s in value.split(",") if s.strip())
    if unknown := wanted - set(SITUACOES):
        reason = f"situação desconhecida; use {sorted(SITUACOES)}"
        raise InterError(400, "Situação inválida", [violation(reason, "situacao", sorted(unknown))])
    return wanted
