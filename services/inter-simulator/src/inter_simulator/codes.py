"""The bank's fixed lists, as its official Python SDK parses them.

Source: inter-co/pj-sdk-python at commit 594744c (2025-02-11),
``inter_sdk_python/billing/enums/*.py`` and ``inter_sdk_python/banking/enums/DiscountCode.py``.
A value outside these lists makes the SDK fail to read the charge (and every list page that
holds it), so the simulator accepts none.
"""

from typing import Literal, get_args

Situacao = Literal[
    "RECEBIDO",
    "A_RECEBER",
    "MARCADO_RECEBIDO",
    "ATRASADO",
    "CANCELADO",
    "EXPIRADO",
    "FALHA_EMISSAO",
    "EM_PROCESSAMENTO",
    "PROTESTO",
]
TipoCobranca = Literal["SIMPLES", "PARCELADO", "RECORRENTE"]
OrdenarPor = Literal[
    "PESSOA_PAGADORA",
    "TIPO_COBRANCA",
    "CODIGO_COBRANCA",
    "IDENTIFICADOR",
    "DATA_EMISSAO",
    "DATA_VENCIMENTO",
    "VALOR",
    "STATUS",
]
TipoOrdenacao = Literal["ASC", "DESC"]
FiltrarDataPor = Literal["VENCIMENTO", "EMISSAO", "PAGAMENTO"]
TipoPessoa = Literal["FISICA", "JURIDICA"]
FormaRecebimento = Literal["BOLETO", "PIX"]
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

SITUACOES: tuple[str, ...] = get_args(Situacao)
