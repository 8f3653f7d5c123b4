"""Charges as the bank's JSON shows them.

The bank mixes number and string amounts (``valorNominal: 100.5`` next to
``valorTotalRecebido: "0"``); the mix is reproduced on purpose so clients must take both.
Each field keeps one type everywhere it appears: ``valorNominal`` and the ``taxa``/``valor``
of discounts, fines and interest are numbers; ``valorTotalRecebido`` is a string.
"""

import math
from decimal import Decimal
from typing import Any

from inter_simulator.codes import SITUACOES
from inter_simulator.store import TIPO_COBRANCA, Charge
from inter_simulator.webhooks import CallbackAttempt


def amount_number(value: Decimal) -> float:
    return float(value)


def amount_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def charge_view(charge: Charge) -> dict[str, Any]:
    view: dict[str, Any] = {"cobranca": _cobranca(charge)}
    if numbers := charge.numbers:
        view["boleto"] = {
            "nossoNumero": numbers.nosso_numero,
            "codigoBarras": numbers.codigo_barras,
            "linhaDigitavel": numbers.linha_digitavel,
        }
        if charge.request.with_pix:
            view["pix"] = {"txid": numbers.txid, "pixCopiaECola": numbers.pix_copia_e_cola}
    return view


def callback_item(charge: Charge) -> dict[str, Any]:
    """One entry of the array the bank POSTs to the registered webhook."""
    item: dict[str, Any] = {
        "codigoSolicitacao": charge.codigo,
        "seuNumero": charge.request.seu_numero,
        "situacao": charge.situacao,
        "dataHoraSituacao": charge.changed.isoformat(timespec="milliseconds"),
        "valorNominal": amount_number(charge.request.valor_nominal),
        "valorTotalRecebido": amount_text(charge.received),
        "origemRecebimento": charge.origem,
    }
    if charge.motivo_cancelamento:
        item["motivoCancelamento"] = charge.motivo_cancelamento
    if numbers := charge.numbers:
        item |= {
            "nossoNumero": numbers.nosso_numero,
            "codigoBarras": numbers.codigo_barras,
            "linhaDigitavel": numbers.linha_digitavel,
        }
        if charge.request.with_pix:
            item |= {"txid": numbers.txid, "pixCopiaECola": numbers.pix_copia_e_cola}
    return item


def page_view(charges: list[Charge], page: int, size: int) -> dict[str, Any]:
    chunk = charges[page * size : (page + 1) * size]
    return page_info(len(charges), page, size, len(chunk)) | {
        "cobrancas": [charge_view(charge) for charge in chunk]
    }


def callbacks_view(attempts: list[CallbackAttempt], page: int, size: int) -> dict[str, Any]:
    chunk = attempts[page * size : (page + 1) * size]
    return page_info(len(attempts), page, size, len(chunk)) | {
        "data": [attempt.view() for attempt in chunk]
    }


def page_info(total: int, page: int, size: int, shown: int) -> dict[str, Any]:
    pages = math.ceil(total / size)
    return {
        "totalPaginas": pages,
        "totalElementos": total,
        "ultimaPagina": page >= pages - 1,
        "primeiraPagina": page == 0,
        "tamanhoPagina": size,
        "numeroDeElementos": shown,
    }


def summary_view(charges: list[Charge]) -> list[dict[str, Any]]:
    """``[{situacao, quantidade, valor}]``, one entry per situação that has charges."""
    totals: dict[str, tuple[int, Decimal]] = {}
    for charge in charges:
        count, total = totals.get(charge.situacao, (0, Decimal(0)))
        totals[charge.situacao] = (count + 1, total + charge.request.valor_nominal)
    ordered = sorted(totals.items(), key=lambda entry: SITUACOES.index(entry[0]))
    return [
        {"situacao": situacao, "quantidade": count, "valor": amount_number(total)}
        for situacao, (count, total) in ordered
    ]


def _cobranca(charge: Charge) -> dict[str, Any]:
    request = charge.request
    cobranca: dict[str, Any] = {
        "codigoSolicitacao": charge.codigo,
        "seuNumero": request.seu_numero,
        "dataEmissao": charge.created.date().isoformat(),
        "dataVencimento": request.data_vencimento.isoformat(),
        "valorNominal": amount_number(request.valor_nominal),
        "tipoCobranca": TIPO_COBRANCA,
        "situacao": charge.situacao,
        "dataSituacao": charge.changed.date().isoformat(),
        "valorTotalRecebido": amount_text(charge.received),
        "arquivada": False,
        "pagador": request.pagador.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    if charge.origem:
        cobranca["origemRecebimento"] = charge.origem
    if charge.motivo_cancelamento:
        cobranca["motivoCancelamento"] = charge.motivo_cancelamento
    extras = request.model_dump(
        mode="json",
        by_alias=True,
        exclude_none=True,
        include={"mensagem", "multa", "mora", "beneficiario_final"},
    )
    if request.desconto:
        discount = request.desconto.model_dump(mode="json", by_alias=True, exclude_none=True)
        extras["descontos"] = [discount]
    return cobranca | extras
