"""Request bodies as the bank validates them; every failure becomes a ``violacoes`` entry."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from inter_simulator.documents import UFS, valid_cep, valid_cnpj, valid_cpf

BRASILIA = timezone(timedelta(hours=-3), "BRT")

# The bank's fixed lists, as the official SDK parses them: inter-co/pj-sdk-python, commit
# 594744c (2025-02-11), inter_sdk_python/billing/enums/*.py and banking/enums/DiscountCode.py.
# A value outside them makes the SDK fail to read the charge, so none is accepted here.
SITUACOES = (
    "RECEBIDO",
    "A_RECEBER",
    "MARCADO_RECEBIDO",
    "ATRASADO",
    "CANCELADO",
    "EXPIRADO",
    "FALHA_EMISSAO",
    "EM_PROCESSAMENTO",
    "PROTESTO",
)
TIPOS_COBRANCA = ("SIMPLES", "PARCELADO", "RECORRENTE")
ORDENAR_POR = (
    "PESSOA_PAGADORA",
    "TIPO_COBRANCA",
    "CODIGO_COBRANCA",
    "IDENTIFICADOR",
    "DATA_EMISSAO",
    "DATA_VENCIMENTO",
    "VALOR",
    "STATUS",
)
TIPOS_ORDENACAO = ("ASC", "DESC")
CODIGOS_DESCONTO = (
    "NAOTEMDESCONTO",
    "VALORFIXODATAINFORMADA",
    "PERCENTUALDATAINFORMADA",
    "VALORANTECIPACAODIAUTIL",
    "PERCENTUALVALORNOMINALDIACORRIDO",
    "PERCENTUALVALORNOMINALDIAUTIL",
)
CODIGOS_MULTA = ("NAOTEMMULTA", "VALORFIXO", "PERCENTUAL")
CODIGOS_MORA = ("VALORDIA", "TAXAMENSAL", "ISENTO", "CONTROLEDOBANCO")
Amount = Annotated[Decimal, Field(ge=0, le=Decimal("99999999.99"), decimal_places=2)]


def today() -> date:
    return datetime.now(BRASILIA).date()


class InterModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, str_strip_whitespace=True
    )


class Pagador(InterModel):
    cpf_cnpj: str
    tipo_pessoa: Literal["FISICA", "JURIDICA"]
    nome: str = Field(min_length=1, max_length=100)
    endereco: str = Field(min_length=1, max_length=100)
    numero: str | None = Field(default=None, max_length=10)
    complemento: str | None = Field(default=None, max_length=30)
    bairro: str | None = Field(default=None, max_length=60)
    cidade: str = Field(min_length=1, max_length=60)
    uf: str
    cep: str
    email: str | None = Field(default=None, max_length=50)
    ddd: str | None = Field(default=None, max_length=2)
    telefone: str | None = Field(default=None, max_length=9)

    @field_validator("cpf_cnpj")
    @classmethod
    def _document(cls, value: str) -> str:
        if not (valid_cpf(value) or valid_cnpj(value)):
            raise PydanticCustomError("cpf_cnpj", "CPF/CNPJ inválido")
        return value

    @field_validator("tipo_pessoa")
    @classmethod
    def _matches_document(cls, value: str, info: ValidationInfo) -> str:
        document = info.data.get("cpf_cnpj")
        if document and (len(document) == 11) != (value == "FISICA"):
            raise PydanticCustomError("tipo_pessoa", "tipoPessoa não corresponde ao cpfCnpj")
        return value

    @field_validator("uf")
    @classmethod
    def _uf(cls, value: str) -> str:
        if value.upper() not in UFS:
            raise PydanticCustomError("uf", "UF inválida")
        return value.upper()

    @field_validator("cep")
    @classmethod
    def _cep(cls, value: str) -> str:
        if not valid_cep(value):
            raise PydanticCustomError("cep", "CEP inválido: deve ter 8 dígitos")
        return value


class Mensagem(InterModel):
    linha1: str | None = Field(default=None, max_length=78)
    linha2: str | None = Field(default=None, max_length=78)
    linha3: str | None = Field(default=None, max_length=78)
    linha4: str | None = Field(default=None, max_length=78)
    linha5: str | None = Field(default=None, max_length=78)


class Desconto(InterModel):
    codigo: str = Field(min_length=1, max_length=40)
    taxa: Amount = Decimal(0)
    valor: Amount = Decimal(0)
    quantidade_dias: int = Field(default=0, ge=0)


class Multa(InterModel):
    codigo: Literal["NAOTEMMULTA", "VALORFIXO", "PERCENTUAL"]
    taxa: Amount = Decimal(0)
    valor: Amount = Decimal(0)


class Mora(InterModel):
    codigo: Literal["ISENTO", "CONTROLEDOBANCO", "TAXAMENSAL", "VALORDIA"]
    taxa: Amount = Decimal(0)
    valor: Amount = Decimal(0)


class ChargeRequest(InterModel):
    seu_numero: str = Field(min_length=1, max_length=15)
    valor_nominal: Decimal = Field(ge=Decimal("2.5"), le=Decimal("99999999.99"), decimal_places=2)
    data_vencimento: date
    num_dias_agenda: int = Field(ge=0, le=60)
    pagador: Pagador
    mensagem: Mensagem | None = None
    desconto: Desconto | None = None
    multa: Multa | None = None
    mora: Mora | None = None
    formas_recebimento: list[Literal["BOLETO", "PIX"]] | None = None

    @field_validator("data_vencimento")
    @classmethod
    def _not_past(cls, value: date) -> date:
        if value < today():
            raise PydanticCustomError("past_date", "dataVencimento não pode ser anterior a hoje")
        return value


class CancelRequest(InterModel):
    motivo_cancelamento: str = Field(min_length=1, max_length=50)


class WebhookRequest(InterModel):
    webhook_url: str = Field(min_length=1, max_length=2048)


class PayRequest(InterModel):
    pagar_com: Literal["BOLETO", "PIX"] = "BOLETO"
    valor_pagar: Decimal | None = Field(default=None, gt=0)
