"""Banco Inter's codes for a charge's discount, fine and interest, and the amount each needs.

Source: inter-co/pj-sdk-python at commit 594744c (2025-02-11),
``inter_sdk_python/billing/enums/*.py`` and ``inter_sdk_python/banking/enums/DiscountCode.py``
(the same lists as inter-simulator's ``codes.py``). The bank refuses a code outside them, and a
code whose rate (``taxa``) or amount (``valor``) is missing or zero, so we refuse both before
answering 202 rather than let the charge fail later at the bank.
"""

from typing import Literal

CodigoDesconto = Literal[
    "NAOTEMDESCONTO",
    "VALORFIXODATAINFORMADA",
    "PERCENTUALDATAINFORMADA",
    "VALORANTECIPACAODIAUTIL",
    "PERCENTUALVALORNOMINALDIACORRIDO",
    "PERCENTUALVALORNOMINALDIAUTIL",
]
CodigoMulta = Literal["NAOTEMMULTA", "VALORFIXO", "PERCENTUAL"]
CodigoMora = Literal["VALORDIA", "TAXAMENSAL", "ISENTO", "CONTROLEDOBANCO"]

RATE_CODES = frozenset(
    {
        "PERCENTUALDATAINFORMADA",
        "PERCENTUALVALORNOMINALDIACORRIDO",
        "PERCENTUALVALORNOMINALDIAUTIL",
        "PERCENTUAL",
        "TAXAMENSAL",
    }
)
AMOUNT_CODES = frozenset(
    {"VALORFIXODATAINFORMADA", "VALORANTECIPACAODIAUTIL", "VALORFIXO", "VALORDIA"}
)


def field_needed(codigo: str) -> Literal["taxa", "valor"] | None:
    """``taxa`` for percentages and monthly rates, ``valor`` for fixed amounts, else none."""
    if codigo in RATE_CODES:
        return "taxa"
    if codigo in AMOUNT_CODES:
        return "valor"
    return None
