"""``/v1/admin/jobs``: boleto-sync's jobs (PDF syncs) summed up for operators (admin keys)."""

from typing import Annotated

from fastapi import APIRouter, Request

from shared.admin.audit import admin_key, audited
from shared.admin.summary import JobSummary, summarize
from shared.admin.summary_repository import JobSummaryRepository
from shared.auth import Principal

router = APIRouter(prefix="/v1/admin/jobs", tags=["admin"])


@router.get(
    "/summary",
    response_model=JobSummary,
    summary="PDF sync jobs by status and age, and each tenant's oldest pending job",
)
async def jobs_summary(
    request: Request, principal: Annotated[Principal, admin_key("boleto_jobs.summary")]
) -> JobSummary:
    """PDF sync jobs by status, with the age of the oldest queued and running job, and per
    tenant (oldest first, at most 100) its oldest pending job."""
    jobs: JobSummaryRepository = request.app.state.deps.job_summary
    with audited(principal, "boleto_jobs.summary", "boleto_jobs") as fields:
        summary = await summarize(jobs)
        fields["total"] = summary.total
    return summary
