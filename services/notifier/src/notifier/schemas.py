"""The public shapes of ``/v1/webhooks`` and ``/v1/email`` (docs/webhooks.md)."""

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifier import filters

EMAIL = r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$"


def _filters(value: list[str]) -> list[str]:
    try:
        return list(dict.fromkeys(filters.check(pattern) for pattern in value))
    except filters.InvalidFilter as exc:
        raise ValueError(str(exc)) from None


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="https URL of the receiver")
    events: list[str] = Field(
        min_length=1, max_length=20, description="event names or wildcards, e.g. conversion.*"
    )
    description: str | None = Field(default=None, max_length=500)

    _events = field_validator("events")(_filters)


class Disabled(BaseModel):
    at: datetime
    failures: int
    reason: str


class Webhook(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    status: Literal["enabled", "disabled"]
    disabled: Disabled | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Webhook":
        return cls(
            id=doc["_id"],
            url=doc["url"],
            events=doc["events"],
            description=doc.get("description"),
            status=doc["status"],
            disabled=Disabled(**doc["disabled"]) if doc.get("disabled") else None,
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )


class WebhookCreated(Webhook):
    secret: str = Field(description="whsec_<base64>: shown once, keep it to verify deliveries")


class WebhookList(BaseModel):
    items: list[Webhook]


class SecretRotated(BaseModel):
    secret: str = Field(description="the new signing secret, shown once")
    previous_secret_expires_at: datetime = Field(
        description="until then deliveries carry a signature with the previous secret too"
    )


class Attempt(BaseModel):
    number: int
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None = None


class Delivery(BaseModel):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: list[Attempt]
    next_attempt_at: datetime | None
    error: str | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Delivery":
        return cls(
            id=doc["_id"],
            webhook_id=doc["subscription_id"],
            event_id=doc["event_id"],
            event_type=doc["event_type"],
            status=doc["status"],
            attempts=[Attempt(**a) for a in doc.get("attempts", [])],
            next_attempt_at=doc["due_at"] if doc["status"] == "pending" else None,
            error=doc.get("error"),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )


class DeliveryList(BaseModel):
    items: list[Delivery]
    next_cursor: str | None


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipients: list[str] = Field(min_length=1, max_length=10)
    events: list[str] = Field(
        # a paid conversion's completion mail promises the payment instructions next
        default=[
            "conversion.completed",
            "conversion.failed",
            "payment.pending",
            "charge.paid",
            "charge.cancelled",
            "charge.failed",
        ],
        min_length=1,
        max_length=20,
    )

    _events = field_validator("events")(_filters)

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if len(address) > 254 or not re.match(EMAIL, address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return list(dict.fromkeys(value))


class EmailStatus(EmailSettings):
    confirmed: list[str] = Field(
        description="recipients who opened their confirmation link: only they get e-mails"
    )

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "EmailStatus":
        confirmed = [r for r in doc["recipients"] if r in doc.get("confirmed", [])]
        return cls(recipients=doc["recipients"], events=doc["events"], confirmed=confirmed)


class EmailConfirmed(BaseModel):
    address: str
    status: Literal["confirmed"] = "confirmed"
