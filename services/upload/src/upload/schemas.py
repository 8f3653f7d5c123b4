"""The public shapes of ``/v1/conversions`` (docs/architecture.md, "HTTP APIs")."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.events import Manifest
from shared.formats import TargetFormat

Status = Literal["queued", "converting", "completed", "failed"]


class Source(BaseModel):
    filename: str
    size: int
    sha256: str
    format: str


class Result(BaseModel):
    size: int
    sha256: str
    media_type: str
    manifest: Manifest


class JobError(BaseModel):
    code: str
    message: str


class Payment(BaseModel):
    """A paid conversion's payment: its result is released once ``status`` is ``paid``."""

    status: Literal["pending", "paid", "expired", "cancelled", "failed"]
    amount_cents: int
    currency: str
    due_date: date | None = None
    charge_id: str | None = None
    boleto_id: str | None = None
    pix_copia_e_cola: str | None = None
    linha_digitavel: str | None = None
    boleto_pdf: str | None = Field(default=None, description="the boleto, once the bank issued it")
    pix_qr: str | None = Field(default=None, description="the Pix code as a QR code (SVG)")
    payer_required: bool = Field(description="no payer given yet: PUT it to request the charge")
    paid_at: datetime | None = None
    error: JobError | None = None


def payment_view(doc: dict[str, Any]) -> Payment:
    """The payment of a paid job as clients see it (never its payer)."""
    payment = doc["payment"]
    path = f"/v1/conversions/{doc['_id']}/payment"
    issued = bool(payment.get("pdf_key"))
    return Payment(
        status=payment["status"],
        amount_cents=payment["amount_cents"],
        currency=payment["currency"],
        due_date=payment.get("due_date"),
        charge_id=payment.get("charge_id"),
        boleto_id=payment.get("boleto_id"),
        pix_copia_e_cola=payment.get("pix_copia_e_cola"),
        linha_digitavel=payment.get("linha_digitavel"),
        boleto_pdf=f"{path}/boleto.pdf" if issued else None,
        pix_qr=f"{path}/pix.svg" if issued and payment.get("pix_copia_e_cola") else None,
        payer_required=not doc.get("payer"),
        paid_at=payment.get("paid_at"),
        error=JobError(**payment["error"]) if payment.get("error") else None,
    )


class Links(BaseModel):
    self: str
    result: str


class Job(BaseModel):
    id: str
    status: Status
    created_at: datetime
    updated_at: datetime
    target: TargetFormat
    timephased: bool
    source: Source
    result: Result | None = None
    error: JobError | None = None
    reused: bool = False
    payment: Payment | None = Field(default=None, description="null for a free conversion")
    links: Links

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Job":
        path = f"/v1/conversions/{doc['_id']}"
        return cls(
            id=doc["_id"],
            status=doc["status"],
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
            target=doc["options"]["target"],
            timephased=doc["options"]["timephased"],
            source=Source(**doc["source"]),
            result=Result(**doc["result"]) if doc.get("result") else None,
            error=JobError(**doc["error"]) if doc.get("error") else None,
            reused=bool(doc.get("reused_from")),
            payment=payment_view(doc) if doc.get("payment") else None,
            links=Links(self=path, result=f"{path}/result"),
        )


class JobList(BaseModel):
    items: list[Job]
    next_cursor: str | None


def render_job(doc: dict[str, Any]) -> bytes:
    """The job's public JSON, as ``GET /v1/conversions/{id}`` answers it."""
    return Job.from_document(doc).model_dump_json().encode()
