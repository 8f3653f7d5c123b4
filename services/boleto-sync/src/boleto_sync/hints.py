"""What a report of the bank's (a callback, or its callback history) asks of us: a check of
each charge whose reported situacao differs from ours, once however often it is named."""

from collections.abc import Iterable
from typing import Any

import structlog

from boleto_sync.check_repository import BankCheckRepository
from boleto_sync.repository import BoletoRepository

log = structlog.get_logger()


async def request_checks(
    repo: BoletoRepository,
    checks: BankCheckRepository,
    items: Iterable[dict[str, Any]],
    reason: str,
) -> int:
    """How many charges are to be checked with the bank (by the worker's ``bank_checks``)."""
    reported: dict[str, set[str]] = {}
    for item in items:
        codigo, situacao = item.get("codigoSolicitacao"), item.get("situacao")
        if isinstance(codigo, str) and isinstance(situacao, str):
            reported.setdefault(codigo, set()).add(situacao)
    return sum([await _hint(repo, checks, c, s, reason) for c, s in reported.items()])


async def _hint(
    repo: BoletoRepository,
    checks: BankCheckRepository,
    codigo: str,
    situacoes: set[str],
    reason: str,
) -> bool:
    boleto = await repo.by_codigo(codigo)
    if boleto is None or situacoes == {boleto["status"]}:
        return False
    await checks.request(boleto["_id"], reason)
    log.info(
        "boleto.check_requested",
        tenant_id=boleto["tenant"],  # the bank's report names no tenant; its boleto does
        boleto_id=boleto["_id"],
        reported=sorted(situacoes),
        reason=reason,
    )
    return True
