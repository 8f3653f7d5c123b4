"""A job summary for operators: jobs by status and age, and each tenant's oldest pending."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.admin.summary_repository import MAX_TENANTS, JobSummaryRepository
from shared.clock import now


class StatusCount(BaseModel):
    status: str
    count: int
    oldest_age_s: float | None = Field(
        description="age of the oldest job in this status; only for statuses still pending"
    )


class TenantPending(BaseModel):
    tenant: str
    job_id: str = Field(description="the tenant's oldest pending job")
    status: str
    age_s: float
    pending: int = Field(description="how many jobs the tenant has pending")


class JobSummary(BaseModel):
    total: int
    pending_statuses: list[str]
    statuses: list[StatusCount]
    oldest_pending: list[TenantPending] = Field(
        description=f"per tenant with pending jobs, oldest first (at most {MAX_TENANTS})"
    )


async def summarize(repository: JobSummaryRepository) -> JobSummary:
    at = now()
    pending = repository.pending
    statuses = [_status(doc, pending, at) for doc in await repository.by_status()]
    return JobSummary(
        total=sum(s.count for s in statuses),
        pending_statuses=pending,
        statuses=sorted(statuses, key=lambda s: s.status),
        oldest_pending=[_tenant(doc, at) for doc in await repository.oldest_pending()],
    )


def _age_s(created: datetime, at: datetime) -> float:
    return round((at - created).total_seconds(), 1)


def _status(doc: dict[str, Any], pending: list[str], at: datetime) -> StatusCount:
    oldest = _age_s(doc["oldest"], at) if doc["_id"] in pending and doc["oldest"] else None
    return StatusCount(status=doc["_id"], count=doc["count"], oldest_age_s=oldest)


def _tenant(doc: dict[str, Any], at: datetime) -> TenantPending:
    return TenantPending(
        tenant=doc["_id"],
        job_id=doc["job_id"],
        status=doc["status"],
        age_s=_age_s(doc["created_at"], at),
        pending=doc["pending"],
    )
