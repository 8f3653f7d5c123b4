"""``/v1/admin/conversions``: the conversion jobs summed up for operators (admin keys)."""

from typing import Annotated

from fastapi import APIRouter, Request

from shared.admin.audit import admin_key, audited
from shared.admin.summary import JobSummary
from shared.auth import Principal
from upload.admin import ConversionsAdmin

router = APIRouter(prefix="/v1/admin/conversions", tags=["admin"])


@router.get(
    "/summary",
    response_model=JobSummary,
    summary="Conversion jobs by status and age, and each tenant's oldest pending job",
)
async def conversions_summary(
    request: Request, principal: Annotated[Principal, admin_key("conversions.summary")]
) -> JobSummary:
    """Conversion jobs by status, with the age of the oldest queued and converting job, and
    per tenant (oldest first, at most 100) its oldest pending job."""
    conversions: ConversionsAdmin = request.app.state.deps.conversions_admin
    with audited(principal, "conversions.summary", "conversion_jobs") as fields:
        summary = await conversions.summary()
        fields["total"] = summary.total
    return summary
