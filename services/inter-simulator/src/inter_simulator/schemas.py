"""Request bodies as the bank validates them; every failure becomes a ``violacoes`` entry."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from inter_simulator.codes import (
    CodigoDesconto,
    CodigoMora,
    CodigoMulta,
    FormaRecebimento,
    TipoPessoa,
)
from inter_simulator.documents import UFS, valid_cep, valid_cnpj, valid_cpf

BRASILIA = timezone(timedelta(hours=-3), "BRT")

# sent as JSON numbers and shown back as numbers, never as strings
Amount = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("99999999.99"), decimal_places=2),
    PlainSerializer(float, return_type=float, when_used="json"),
]
# the SDK sends every key, so an amount the code does not use arrives as null
OptionalAmount = Annotated[Amount | None, Field(default=None, validate_default=True)]


def today() -> date:
    return datetime.now(BRASILIA).date()


class InterModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, str_strip_whitespace=True
    )


class Pessoa(InterModel):
    """The payer (``pagador``) and the final beneficiary (``beneficiarioFinal``) alike."""

    cpf_cnpj: str
    tipo_pessoa: TipoPessoa
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


class Encargo(InterModel):
    """A discount, fine or interest: its code says whether ``taxa`` or ``valor`` is due.

    Each subclass declares ``codigo`` before the amounts, so the check can read it.
    """

    @field_validator("taxa", "valor", check_fields=False)
    @classmethod
    def _required_by_code(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        codigo = info.data.get("codigo")
        if codigo and info.field_name == _amount_needed(codigo) and not value:
            raise PydanticCustomError(
                "required_by_code",
                "{campo} deve ser informado e maior que zero para o código {codigo}",
                {"campo": info.field_name, "codigo": codigo},
            )
        return value


def _amount_needed(codigo: str) -> str | None:
    """``taxa`` for percentages and monthly rates, ``valor`` for fixed amounts, else none."""
    if codigo.startswith(("PERCENTUAL", "TAXA")):
        return "taxa"
    if codigo.startswith("VALOR"):
        return "valor"
    return None


class Desconto(Encargo):
    codigo: CodigoDesconto
    quantidade_dias: int | None = Field(default=None, ge=0)
    taxa: OptionalAmount
    valor: OptionalAmount


class Multa(Encargo):
    codigo: CodigoMulta
    taxa: OptionalAmount
    valor: OptionalAmount


class Mora(Encargo):
    codigo: CodigoMora
    taxa: OptionalAmount
    valor: OptionalAmount


class ChargeRequest(InterModel):
    seu_numero: str = Field(min_length=1, max_length=15)
    valor_nominal: Decimal = Field(ge=Decimal("2.5"), le=Decimal("99999999.99"), decimal_places=2)
    data_vencimento: date
    num_dias_agenda: int = Field(ge=0, le=60)
    pagador: Pessoa
    mensagem: Mensagem | None = None
    desconto: Desconto | None = None
    multa: Multa | None = None
    mora: Mora | None = None
    beneficiario_final: Pessoa | None = None
    formas_recebimento: list[FormaRecebimento] | None = Field(default=None, min_length=1)

    @property
    def with_pix(self) -> bool:
        """Pix data exists unless ``formasRecebimento`` leaves PIX out."""
        return self.formas_recebimento is None or "PIX" in self.formas_recebimento

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
    pagar_com: FormaRecebimento = "BOLETO"
    valor_pagar: Decimal | None = Field(default=None, gt=0)
