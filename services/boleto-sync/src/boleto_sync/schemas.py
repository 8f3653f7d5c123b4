"""The public shapes of ``/v1/boletos``, ``/v1/proposals`` and ``/v1/jobs``.

The request carries Banco Inter's own charge fields (camelCase, as in API Cobrança v3), so a
client that knows the bank's API needs nothing new.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from boleto_sync.charge_codes import CodigoDesconto, CodigoMora, CodigoMulta, field_needed
from shared.payer import Payer

# Banco Inter API Cobrança v3: each message line holds up to 78 characters; amounts have two
# decimals and the charge's own ceiling. The bank sends numbers, so amounts leave as numbers.
Line = Annotated[str, Field(max_length=78)]
Amount = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("99999999.99"), decimal_places=2),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class BankFields(BaseModel):
    """One of the bank's small objects: unknown fields refused, and an object with more fields
    than the bank defines refused as a whole (one error, not one per field sent)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _few_fields(cls, value: Any) -> Any:
        if isinstance(value, dict) and len(value) > len(cls.model_fields):
            raise ValueError(
                f"at most {len(cls.model_fields)} fields: {', '.join(cls.model_fields)}"
            )
        return value


class Mensagem(BankFields):
    """Up to five lines printed on the boleto."""

    linha1: Line | None = None
    linha2: Line | None = None
    linha3: Line | None = None
    linha4: Line | None = None
    linha5: Line | None = None


class Encargo(BankFields):
    """A discount, fine or interest: its code says whether ``taxa`` or ``valor`` must be above
    zero, and the bank refuses the charge otherwise. Subclasses declare ``codigo`` first, so
    the check can read it."""

    @field_validator("taxa", "valor", check_fields=False)
    @classmethod
    def _required_by_code(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        codigo = info.data.get("codigo")
        if codigo and info.field_name == field_needed(codigo) and not value:
            raise PydanticCustomError(
                "required_by_code",
                "{field} must be given and above zero for codigo {codigo}",
                {"field": info.field_name, "codigo": codigo},
            )
        return value


# an amount the code needs may be left out, so the check runs on the default too
CodeAmount = Annotated[Amount | None, Field(default=None, validate_default=True)]


class Desconto(Encargo):
    codigo: CodigoDesconto
    quantidadeDias: int | None = Field(default=None, ge=0, le=3650)
    taxa: CodeAmount
    valor: CodeAmount


class Multa(Encargo):
    codigo: CodigoMulta
    taxa: CodeAmount
    valor: CodeAmount


class Mora(Encargo):
    codigo: CodigoMora
    taxa: CodeAmount
    valor: CodeAmount


class BoletoCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seuNumero: str = Field(min_length=1, max_length=15, pattern=r"^[\w.-]+$")
    valorNominal: Decimal = Field(gt=0, le=Decimal("99999999.99"), decimal_places=2)
    dataVencimento: date
    numDiasAgenda: int = Field(default=0, ge=0, le=60)
    pagador: Payer
    mensagem: Mensagem | None = None
    desconto: Desconto | None = None
    multa: Multa | None = None
    mora: Mora | None = None
    proposal_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[\w.-]+$")

    @field_validator("dataVencimento")
    @classmethod
    def _not_past(cls, value: date) -> date:
        if value < date.today():
            raise ValueError("dataVencimento is in the past")
        return value

    def charge(self) -> dict[str, Any]:
        """The body Banco Inter receives."""
        body = self.model_dump(mode="json", exclude={"proposal_id"}, exclude_none=True)
        body["valorNominal"] = float(self.valorNominal)
        return body


class InterIds(BaseModel):
    codigo_solicitacao: str | None = None
    nosso_numero: str | None = None
    codigo_barras: str | None = None
    linha_digitavel: str | None = None
    txid: str | None = None
    pix_copia_e_cola: str | None = None


class PdfVersion(BaseModel):
    version: int
    sha256: str
    size: int
    synced_at: datetime


class Pdf(BaseModel):
    current: PdfVersion | None = None
    versions: list[PdfVersion] = []
    sync_job_id: str | None = None


class Boleto(BaseModel):
    id: str
    status: str = Field(description="Banco Inter's situacao once issued; PENDING or FAILED before")
    proposal_id: str | None
    seu_numero: str
    valor_nominal: Decimal
    data_vencimento: date
    inter: InterIds
    pdf: Pdf
    error: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Boleto":
        charge = doc["charge"]
        return cls(
            id=doc["_id"],
            status=doc["status"],
            proposal_id=doc.get("proposal_id"),
            seu_numero=charge["seuNumero"],
            valor_nominal=charge["valorNominal"],
            data_vencimento=charge["dataVencimento"],
            inter=InterIds.model_validate(doc.get("inter") or {}),
            pdf=Pdf.model_validate(doc["pdf"]),
            error=doc.get("error"),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )


def render_boleto(doc: dict[str, Any]) -> bytes:
    """The boleto's public JSON, as ``GET /v1/boletos/{id}`` answers it."""
    return Boleto.from_document(doc).model_dump_json().encode()


class SyncAccepted(BaseModel):
    error: Literal["PDF_SYNC_IN_PROGRESS"] = "PDF_SYNC_IN_PROGRESS"
    message: str
    estimated_seconds: float
    job_id: str


class Job(BaseModel):
    id: str
    kind: Literal["pdf_sync", "proposal_sync"]
    status: Literal["queued", "running", "completed", "failed"]
    boleto_ids: list[str]
    jobs: list[str] = []
    error: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime


class SituacaoTotal(BaseModel):
    situacao: str
    quantidade: int
    valor: float


class BankSummary(BaseModel):
    as_of: datetime = Field(description="when the worker read it from the bank")
    filters: dict[str, str] = Field(description="the bank's filters it was read with")
    situacoes: list[SituacaoTotal]
