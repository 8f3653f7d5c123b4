"""``/v1/admin/jobs``: boleto-sync's jobs (PDF syncs) summed up for operators, and
``/v1/admin/boletos/reconciliation``: the reconciliation with the bank (admin keys)."""

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from boleto_sync.reconciliation_repository import ReconciliationRepository
from shared.admin.audit import admin_key, audited
from shared.admin.summary import JobSummary, summarize
from shared.admin.summary_repository import JobSummaryRepository
from shared.auth import Principal

router = APIRouter(prefix="/v1/admin/jobs", tags=["admin"])
reconciliation_router = APIRouter(prefix="/v1/admin/boletos/reconciliation", tags=["admin"])


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


def _runs(request: Request) -> ReconciliationRepository:
    return request.app.state.deps.reconciliation  # type: ignore[no-any-return]


@reconciliation_router.post("", status_code=202, summary="Reconcile with the bank now")
async def request_reconciliation(
    request: Request, principal: Annotated[Principal, admin_key("boletos.reconcile")]
) -> JSONResponse:
    """A worker runs it within seconds: lost issues adopted, missed callbacks checked, the
    bank's summary read. `GET` shows the last run."""
    with audited(principal, "boletos.reconcile", "inter"):
        requested = await _runs(request).request_run()
    return JSONResponse(
        {"requested_at": requested.isoformat()},
        status_code=202,
        headers={"Location": "/v1/admin/boletos/reconciliation"},
    )


@reconciliation_router.get("", summary="The last reconciliation with the bank")
async def reconciliation(
    request: Request, principal: Annotated[Principal, admin_key("boletos.reconciliation")]
) -> dict[str, Any]:
    with audited(principal, "boletos.reconciliation", "inter"):
        state = await _runs(request).state() or {}
    return {
        "next_run_at": state.get("next_run_at"),
        "requested_at": state.get("requested_at"),
        "running": state.get("lease_until") is not None,
        "callbacks_read_until": state.get("callbacks_until"),
        "last_run": state.get("last_run"),
    }
