"""The event contract: frozen, versioned pydantic models; the routing key derives from each.

Every event carries ``tenant_id``. The CloudEvents ``type`` equals the routing key
(e.g. ``conversion.completed.v1``), so a subscriber binds to exactly what it reads.
"""

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.formats import TargetFormat

ErrorCode = Literal[
    "unsupported_format", "password_protected", "corrupt_file", "timeout", "too_large", "internal"
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

    def subject(self) -> str | None:
        return None


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

    def subject(self) -> str:
        return self.job_id


class ConversionStarted(Event):
    name = "conversion.started"

    job_id: str

    def subject(self) -> str:
        return self.job_id


class ConversionCompleted(Event):
    name = "conversion.completed"

    job_id: str
    result_key: str
    size: int
    sha256: str
    media_type: str
    manifest: Manifest

    def subject(self) -> str:
        return self.job_id


class ConversionDeleted(Event):
    """A job and its files were removed (by its owner, or by retention)."""

    name = "conversion.deleted"

    job_id: str

    def subject(self) -> str:
        return self.job_id


class ConversionFailed(Event):
    name = "conversion.failed"

    job_id: str
    code: ErrorCode
    message: str

    def subject(self) -> str:
        return self.job_id


class ChargeIssueRequested(Event):
    """A boleto was accepted by the API; the worker issues its charge at Banco Inter."""

    name = "charge.issue.requested"

    boleto_id: str

    def subject(self) -> str:
        return self.boleto_id


class ChargeIssued(Event):
    name = "charge.issued"

    boleto_id: str
    proposal_id: str | None = None
    codigo_solicitacao: str
    situacao: str

    def subject(self) -> str:
        return self.boleto_id


class BoletoSyncRequested(Event):
    """A boleto's PDF must be fetched from the bank into storage (job ``job_id``)."""

    name = "boleto.sync.requested"

    boleto_id: str
    job_id: str

    def subject(self) -> str:
        return self.boleto_id


class BoletoSynced(Event):
    name = "boleto.synced"

    boleto_id: str
    job_id: str
    pdf_version: int
    sha256: str
    size: int

    def subject(self) -> str:
        return self.boleto_id


class BoletoSyncFailed(Event):
    name = "boleto.sync.failed"

    boleto_id: str
    job_id: str
    code: str
    message: str

    def subject(self) -> str:
        return self.boleto_id


class WebhookEndpointDisabled(Event):
    """A webhook kept failing and was disabled; re-enable it once the receiver is fixed."""

    name = "webhook.endpoint.disabled"

    webhook_id: str
    url: str
    failures: int
    reason: str

    def subject(self) -> str:
        return self.webhook_id
