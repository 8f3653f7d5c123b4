"""The event contract: frozen, versioned pydantic models; the routing key derives from each.

Every event carries ``tenant_id``. The CloudEvents ``type`` equals the routing key
(e.g. ``conversion.completed.v1``), so a subscriber binds to exactly what it reads.
"""

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


class WebhookEndpointDisabled(Event):
    """A webhook kept failing and was disabled; re-enable it once the receiver is fixed."""

    name = "webhook.endpoint.disabled"
    subject_field = "webhook_id"

    webhook_id: str
    url: str
    failures: int
    reason: str
