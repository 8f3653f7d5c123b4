"""The bank's lists, read whole: charges of a period (every page), the summary by situacao,
and the history of its callbacks to us. Calls of the shared Inter client, each within its
endpoint group's limit; the summary and the history serve every tenant (no fair share)."""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from boleto_sync.inter.client import BASE, InterClient

BRASILIA = timezone(timedelta(hours=-3))  # the bank reads a time without a zone as its own
LIST_PAGE = 1000  # the most the bank gives in one page of charges
CALLBACKS_PAGE = 100


async def listed_charges(
    inter: InterClient, params: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Every charge the bank lists for ``params``, page after page."""
    page = 0
    while True:
        body = await inter.list(
            {**params, "paginacao.itensPorPagina": LIST_PAGE, "paginacao.paginaAtual": page}
        )
        for item in body.get("cobrancas") or []:
            yield item.get("cobranca", item)
        page += 1
        if _last_page(body, page):
            return


async def callback_history(
    inter: InterClient, start: datetime, end: datetime
) -> AsyncIterator[dict[str, Any]]:
    """Every attempt the bank made to deliver a callback between ``start`` and ``end``."""
    page = 0
    while True:
        params = {
            "dataHoraInicio": _bank_time(start),
            "dataHoraFim": _bank_time(end),
            "pagina": page,
            "itensPorPagina": CALLBACKS_PAGE,
        }
        # the client's generic call: InterClient has no method of its own for it yet
        body = await inter._call("callbacks", "GET", f"{BASE}/webhook/callbacks", params=params)
        for attempt in body.get("data") or []:
            yield attempt
        page += 1
        if _last_page(body, page):
            return


async def summary(inter: InterClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{situacao, quantidade, valor}]`` for the charges ``params`` select."""
    body = await inter._call("summary", "GET", f"{BASE}/sumario", params=params)
    return [entry for entry in body if isinstance(entry, dict)] if isinstance(body, list) else []


def _last_page(body: dict[str, Any], next_page: int) -> bool:
    return bool(body.get("ultimaPagina", True)) or next_page >= int(body.get("totalPaginas") or 0)


def _bank_time(moment: datetime) -> str:
    return moment.astimezone(BRASILIA).replace(tzinfo=None).isoformat(timespec="seconds")
