"""The event contract: frozen, versioned pydantic models; the routing key derives from each.

Every event carries ``tenant_id``. The CloudEvents ``type`` equals the routing key
(e.g. ``conversion.completed.v1``), so a subscriber binds to exactly what it reads.
"""

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.formats import TargetFormat

ErrorCode = Literal[
    "unsupported_format",
    "password_protected",
    "corrupt_file",
    "timeout",
    "too_large",
    "crashed",
    "internal",
]


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: ClassVar[str]
    version: ClassVar[int] = 1
    registry: ClassVar[dict[str, type["Event"]]] = {}

    tenant_id: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            Event.registry[cls.routing_key()] = cls

    @classmethod
    def routing_key(cls) -> str:
        return f"{cls.name}.v{cls.version}"

    subject_field: ClassVar[str | None] = None  # the field that names what the event is about

    def subject(self) -> str | None:
        """The CloudEvents ``subject``: the id of the job, boleto or webhook concerned."""
        return str(getattr(self, self.subject_field)) if self.subject_field else None


class ConversionOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    target: TargetFormat = "mspdi"
    timephased: bool = False


class Manifest(BaseModel):
    """What the converter read and wrote, so a user can judge the result's fidelity."""

    model_config = ConfigDict(frozen=True)

    source_format: str
    read: dict[str, int]
    written: dict[str, int]
    warnings: list[str] = []


class ConversionRequested(Event):
    name = "conversion.requested"
    subject_field = "job_id"

    job_id: str
    source_key: str
    source_sha256: str
    source_size: int
    filename: str
    options: ConversionOptions
    result_key: str
    password_key: str | None = Field(
        default=None, description="object holding the read password; never the password itself"
    )
    payment_required: bool = Field(
        default=False, description="the tenant charges for it: the result is released on payment"
    )


class ConversionStarted(Event):
    name = "conversion.started"
    subject_field = "job_id"

    job_id: str


class ConversionCompleted(Event):
    name = "conversion.completed"
    subject_field = "job_id"

    job_id: str
    result_key: str
    size: int
    sha256: str
    media_type: str
    manifest: Manifest
    payment_required: bool = Field(
        default=False,
        description="the result stays locked until its charge is paid (payment.pending follows)",
    )


class ConversionDeleted(Event):
    """A job and its files were removed (by its owner, or by retention)."""

    name = "conversion.deleted"
    subject_field = "job_id"

    job_id: str


class ConversionFailed(Event):
    name = "conversion.failed"
    subject_field = "job_id"

    job_id: str
    code: ErrorCode
    message: str


class ChargeIssueRequested(Event):
    """A boleto was accepted by the API; the worker issues its charge at Banco Inter."""

    name = "charge.issue.requested"
    subject_field = "boleto_id"

    boleto_id: str


class ChargeIssued(Event):
    name = "charge.issued"
    subject_field = "boleto_id"

    boleto_id: str
    proposal_id: str | None = None
    codigo_solicitacao: str
    situacao: str


class BoletoSyncRequested(Event):
    """A boleto's PDF must be fetched from the bank into storage (job ``job_id``)."""

    name = "boleto.sync.requested"
    subject_field = "boleto_id"

    boleto_id: str
    job_id: str


class BoletoSynced(Event):
    name = "boleto.synced"
    subject_field = "boleto_id"

    boleto_id: str
    job_id: str
    pdf_version: int
    sha256: str
    size: int


class BoletoSyncFailed(Event):
    name = "boleto.sync.failed"
    subject_field = "boleto_id"

    boleto_id: str
    job_id: str
    code: str
    message: str


class PaymentRequested(Event):
    """A paid conversion completed and its payer is known: boleto-sync issues its charge (one
    per job, however often this is delivered). Carries the payer's data, so it is never
    delivered to webhooks or streams."""

    name = "payment.requested"
    subject_field = "job_id"

    job_id: str
    attempt: int = Field(
        default=1, ge=1, description="a new payer after a failed charge asks for another"
    )
    amount_cents: int = Field(gt=0)
    currency: Literal["BRL"] = "BRL"
    due_date: date
    payer: dict[str, Any] = Field(description="shared.payer.Payer, in the bank's field names")


class PaymentPending(Event):
    """The charge of a paid conversion is issued and its boleto PDF stored: how to pay it."""

    name = "payment.pending"
    subject_field = "job_id"

    job_id: str
    boleto_id: str
    charge_id: str = Field(description="the bank's codigoSolicitacao")
    amount_cents: int
    currency: Literal["BRL"] = "BRL"
    due_date: date
    pix_copia_e_cola: str | None = None
    linha_digitavel: str | None = None
    pdf_key: str = Field(description="the boleto PDF's object in the platform's store")


class ChargePaid(Event):
    """The bank confirmed a charge as paid (its own answer, never a callback's word alone)."""

    name = "charge.paid"
    subject_field = "boleto_id"

    boleto_id: str
    job_id: str | None = Field(default=None, description="the conversion it pays, if any")
    charge_id: str
    situacao: str = Field(description="RECEBIDO, or MARCADO_RECEBIDO when marked by hand")
    paid_at: datetime


class ChargeCancelled(Event):
    """The bank confirmed a charge as expired or cancelled: it can no longer be paid."""

    name = "charge.cancelled"
    subject_field = "boleto_id"

    boleto_id: str
    job_id: str | None = None
    charge_id: str
    situacao: Literal["EXPIRADO", "CANCELADO"]


class ChargeFailed(Event):
    """A conversion's charge could not be issued (the bank refused it, or every attempt
    failed): its payment fails with the reason, and the client may give another payer."""

    name = "charge.failed"
    subject_field = "boleto_id"

    boleto_id: str
    job_id: str | None = None
    code: str
    message: str


class WebhookEndpointDisabled(Event):
    """A webhook kept failing and was disabled; re-enable it once the receiver is fixed."""

    name = "webhook.endpoint.disabled"
    subject_field = "webhook_id"

    webhook_id: str
    url: str
    failures: int
    reason: str
