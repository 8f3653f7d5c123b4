"""The operator views of conversions: jobs by status and age, the oldest pending per tenant,
and what replaying a dead conversion request undoes first."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage
from pydantic import BaseModel, Field

from shared.clock import now
from shared.events import ConversionRequested
from shared.messaging.envelope import MalformedEvent, decode
from shared.messaging.notices import Recorded
from upload.admin_repository import PENDING, JobSummaryRepository

log = structlog.get_logger()


class StatusCount(BaseModel):
    status: str
    count: int
    oldest_age_s: float | None = Field(
        description="age of the oldest job in this status; only for queued and converting"
    )


class TenantPending(BaseModel):
    tenant: str
    job_id: str = Field(description="the tenant's oldest queued or converting job")
    status: str
    age_s: float
    pending: int = Field(description="the tenant's queued and converting jobs")


class ConversionSummary(BaseModel):
    total: int
    statuses: list[StatusCount]
    oldest_pending: list[TenantPending] = Field(
        description="per tenant with pending jobs, oldest first (at most 100 tenants)"
    )


class ConversionsAdmin:
    def __init__(
        self, repository: JobSummaryRepository, announce: Callable[[Recorded], Awaitable[None]]
    ) -> None:
        """``announce`` tells the API replicas' caches of a job set back to queued."""
        self.repository = repository
        self.announce = announce

    async def summary(self) -> ConversionSummary:
        at = now()
        statuses = [_status(doc, at) for doc in await self.repository.by_status()]
        pending = [_pending(doc, at) for doc in await self.repository.oldest_pending()]
        return ConversionSummary(
            total=sum(s.count for s in statuses),
            statuses=sorted(statuses, key=lambda s: s.status),
            oldest_pending=pending,
        )

    async def before_replay(self, message: AbstractIncomingMessage) -> None:
        """A conversion request put back on its queue: its job, failed when the request ran
        out of attempts, is queued again, so the converter's fresh attempt can complete it.
        A job that failed for any other reason stays failed (the converter then finds its
        outcome recorded and converts nothing)."""
        try:
            received = decode(dict(message.headers or {}), message.content_type, message.body)
        except MalformedEvent:
            return
        if isinstance(received.event, ConversionRequested):
            job_id = received.event.job_id
            if recorded := await self.repository.requeue_gave_up(job_id):
                await self.announce(recorded)
                log.info("conversion.requeued", job_id=job_id, event_id=received.id)


def _age_s(created: datetime, at: datetime) -> float:
    return round((at - created).total_seconds(), 1)


def _status(doc: dict[str, Any], at: datetime) -> StatusCount:
    oldest = _age_s(doc["oldest"], at) if doc["_id"] in PENDING and doc["oldest"] else None
    return StatusCount(status=doc["_id"], count=doc["count"], oldest_age_s=oldest)


def _pending(doc: dict[str, Any], at: datetime) -> TenantPending:
    return TenantPending(
        tenant=doc["_id"],
        job_id=doc["job_id"],
        status=doc["status"],
        age_s=_age_s(doc["created_at"], at),
        pending=doc["pending"],
    )
