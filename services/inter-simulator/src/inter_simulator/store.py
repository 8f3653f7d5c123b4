"""Charges in memory and their life: EM_PROCESSAMENTO -> A_RECEBER -> RECEBIDO or CANCELADO.

Issuing is asynchronous at the bank. Here a charge leaves EM_PROCESSAMENTO lazily, on the
first read after its processing delay, so no background task has to run for it.
"""

import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from inter_simulator.boleto import IssuedNumbers, issue_numbers
from inter_simulator.problems import InterError
from inter_simulator.schemas import BRASILIA, ChargeRequest, PayRequest, today

BENEFICIARY = "SIMULADOR INTER"
TIPO_COBRANCA = "SIMPLES"  # the simulator issues single charges only
OPEN = ("A_RECEBER", "ATRASADO")
DuplicateKey = tuple[str, Decimal, date, str]


@dataclass
class Charge:
    codigo: str
    request: ChargeRequest
    created: datetime
    delay: float
    will_fail: bool
    sequence: int
    situacao: str = "EM_PROCESSAMENTO"
    changed: datetime = field(default_factory=lambda: datetime.now(BRASILIA))
    numbers: IssuedNumbers | None = None
    received: Decimal = Decimal(0)
    origem: str | None = None
    paid_on: date | None = None
    motivo_cancelamento: str | None = None

    def move(self, situacao: str, when: datetime | None = None) -> None:
        self.situacao, self.changed = situacao, when or datetime.now(BRASILIA)


@dataclass(frozen=True)
class ChargeFilter:
    data_inicial: date
    data_final: date
    filtrar_por: str = "VENCIMENTO"
    situacoes: frozenset[str] = frozenset()
    seu_numero: str | None = None
    cpf_cnpj: str | None = None
    pessoa_pagadora: str | None = None
    tipo_cobranca: str | None = None

    def matches(self, charge: Charge) -> bool:
        day = {
            "VENCIMENTO": charge.request.data_vencimento,
            "EMISSAO": charge.created.date(),
            "PAGAMENTO": charge.paid_on,
        }[self.filtrar_por]
        return (
            day is not None
            and self.data_inicial <= day <= self.data_final
            and (not self.situacoes or charge.situacao in self.situacoes)
            and self.seu_numero in (None, charge.request.seu_numero)
            and self.cpf_cnpj in (None, charge.request.pagador.cpf_cnpj)
            and self._payer_named(charge.request.pagador.nome)
            and self.tipo_cobranca in (None, TIPO_COBRANCA)
        )

    def _payer_named(self, nome: str) -> bool:
        """``pessoaPagadora`` is part of the payer's name, in any case."""
        wanted = self.pessoa_pagadora
        return wanted is None or wanted.casefold() in nome.casefold()


_SORT_KEYS: dict[str, Callable[[Charge], Any]] = {
    "PESSOA_PAGADORA": lambda charge: charge.request.pagador.nome.casefold(),
    "TIPO_COBRANCA": lambda charge: TIPO_COBRANCA,
    "CODIGO_COBRANCA": lambda charge: charge.codigo,
    "IDENTIFICADOR": lambda charge: charge.request.seu_numero,
    "DATA_EMISSAO": lambda charge: charge.created,
    "DATA_VENCIMENTO": lambda charge: charge.request.data_vencimento,
    "VALOR": lambda charge: charge.request.valor_nominal,
    "STATUS": lambda charge: charge.situacao,
}


def ordered(charges: list[Charge], ordenar_por: str | None, tipo: str) -> list[Charge]:
    """Sorted by ``ordenarPor`` (creation order without it), ties in creation order."""
    key = _SORT_KEYS.get(ordenar_por or "DATA_EMISSAO", _SORT_KEYS["DATA_EMISSAO"])
    by_creation = sorted(charges, key=lambda charge: charge.sequence)
    return sorted(by_creation, key=key, reverse=tipo == "DESC")


class ChargeStore:
    def __init__(
        self,
        processing_delay: Callable[[], float],
        duplicate_window: float,
        failed_issue: Callable[[], bool],
    ) -> None:
        self.processing_delay = processing_delay
        self.duplicate_window = duplicate_window
        self.failed_issue = failed_issue
        self.charges: dict[str, Charge] = {}
        self.recent: dict[DuplicateKey, float] = {}
        self.sequence = count(secrets.randbelow(9 * 10**9) + 10**9)

    def issue(self, request: ChargeRequest) -> Charge:
        now, key = time.monotonic(), _duplicate_key(request)
        if now - self.recent.get(key, -self.duplicate_window - 1) <= self.duplicate_window:
            raise InterError(
                409, "Cobrança duplicada: mesmos seuNumero, valor, vencimento, pagador"
            )
        self.recent[key] = now
        delay = self.processing_delay()
        charge = Charge(
            str(uuid.uuid4()),
            request,
            datetime.now(BRASILIA),
            delay,
            self.failed_issue(),
            next(self.sequence),
        )
        self.charges[charge.codigo] = charge
        return charge

    def get(self, codigo: str) -> Charge:
        charge = self.charges.get(codigo)
        if charge is None:
            raise InterError(404, f"Cobrança {codigo} não encontrada")
        self._refresh(charge)
        return charge

    def search(self, wanted: ChargeFilter) -> list[Charge]:
        return [charge for charge in self._all() if wanted.matches(charge)]

    def cancel(self, codigo: str, motivo: str) -> Charge:
        charge = self._open(codigo, "cancelada")
        charge.motivo_cancelamento = motivo
        charge.move("CANCELADO")
        return charge

    def pay(self, codigo: str, payment: PayRequest) -> Charge:
        charge = self._open(codigo, "paga")
        if payment.pagar_com == "PIX" and not charge.request.with_pix:
            raise InterError(400, "Cobrança emitida sem PIX em formasRecebimento")
        charge.received = payment.valor_pagar or charge.request.valor_nominal
        charge.origem, charge.paid_on = payment.pagar_com, today()
        charge.move("RECEBIDO")
        return charge

    def by_situacao(self) -> dict[str, int]:
        return dict(Counter(charge.situacao for charge in self._all()))

    def _open(self, codigo: str, action: str) -> Charge:
        charge = self.get(codigo)
        if charge.situacao not in OPEN:
            raise InterError(400, f"Cobrança em situação {charge.situacao} não pode ser {action}")
        return charge

    def _all(self) -> Iterator[Charge]:
        for charge in self.charges.values():
            self._refresh(charge)
            yield charge

    def _refresh(self, charge: Charge) -> None:
        issued_at = charge.created + timedelta(seconds=charge.delay)
        if charge.situacao == "EM_PROCESSAMENTO" and datetime.now(BRASILIA) >= issued_at:
            if charge.will_fail:
                charge.move("FALHA_EMISSAO", issued_at)
            else:
                charge.numbers = _numbers(charge)
                charge.move("A_RECEBER", issued_at)
        due = charge.request.data_vencimento
        if charge.situacao == "A_RECEBER" and due < today():
            overdue = datetime.combine(due + timedelta(days=1), datetime.min.time(), BRASILIA)
            charge.move("ATRASADO", overdue)


def _duplicate_key(request: ChargeRequest) -> DuplicateKey:
    return (
        request.seu_numero,
        request.valor_nominal,
        request.data_vencimento,
        request.pagador.cpf_cnpj,
    )


def _numbers(charge: Charge) -> IssuedNumbers:
    request = charge.request
    txid = uuid.uuid4().hex
    return issue_numbers(
        charge.sequence, request.valor_nominal, request.data_vencimento, txid, BENEFICIARY
    )
