"""HTTP entry points of boleto-sync: translate requests into service calls, nothing more."""

import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from boleto_sync.bootstrap import ApiDeps
from boleto_sync.schemas import BankSummary, Boleto, BoletoCreate, Job, SyncAccepted
from boleto_sync.service import BoletoService, NotIssued, StoredPdf, SyncTicket
from shared.admin.audit import admin_key, audited
from shared.auth import Principal, require_principal
from shared.http.conditional import NOT_MODIFIED, conditional
from shared.http.problems import Problem
from shared.logging import bind_ids

router = APIRouter(tags=["boletos"])
Auth = Annotated[Principal, Depends(require_principal)]


async def _deps(request: Request) -> ApiDeps:
    return request.app.state.deps  # type: ignore[no-any-return]


Deps = Annotated[ApiDeps, Depends(_deps)]


async def _service(deps: Deps) -> BoletoService:
    return deps.boletos


Service = Annotated[BoletoService, Depends(_service)]


def _no_boleto(boleto_id: str) -> Problem:
    return Problem(404, "not_found", f"no boleto {boleto_id}")


@router.post("/v1/boletos", status_code=202, response_model=Boleto)
async def create_boleto(body: BoletoCreate, principal: Auth, service: Service) -> JSONResponse:
    boleto = Boleto.from_document(await service.create(principal.tenant, body))
    return JSONResponse(
        boleto.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/v1/boletos/{boleto.id}"},
    )


@router.get("/v1/boletos/summary", tags=["admin"], response_model=BankSummary)
async def bank_summary(
    principal: Annotated[Principal, admin_key("boletos.summary")], deps: Deps
) -> BankSummary:
    """The bank's own count and amount of charges by situacao (issued in the last 30 days), as
    the worker last read it (each reconciliation run; `POST /v1/admin/boletos/reconciliation`
    asks for one). `404 no_summary` until the first run has read it."""
    with audited(principal, "boletos.summary", "inter"):
        state = await deps.reconciliation.state()
    if not state or not state.get("bank_summary"):
        raise Problem(404, "no_summary", "the bank's summary has not been read yet")
    return BankSummary.model_validate(state["bank_summary"])


@router.get(
    "/v1/boletos/{boleto_id}",
    response_model=Boleto,
    responses=NOT_MODIFIED,
)
async def get_boleto(
    boleto_id: str,
    principal: Auth,
    service: Service,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    bind_ids(boleto_id=boleto_id)
    boleto = await service.view(principal.tenant, boleto_id)
    if boleto is None:
        raise _no_boleto(boleto_id)
    return conditional(boleto, if_none_match)


@router.get(
    "/v1/boletos/{boleto_id}/pdf",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/pdf": {}}},
        202: {"model": SyncAccepted},
        409: {"description": "the charge was never issued"},
    },
)
async def get_pdf(boleto_id: str, principal: Auth, service: Service) -> Response:
    bind_ids(boleto_id=boleto_id)
    try:
        pdf = await service.pdf(principal.tenant, boleto_id)
    except NotIssued as exc:
        raise Problem(
            409, "not_issued", "the bank refused this charge; it has no PDF", error=exc.error
        ) from None
    if pdf is None:
        raise _no_boleto(boleto_id)
    if isinstance(pdf, StoredPdf):
        return StreamingResponse(
            pdf.content,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="{boleto_id}-v{pdf.version}.pdf"',
                "ETag": f'"{pdf.sha256}"',
                "Content-Length": str(pdf.size),
            },
        )
    return _sync_accepted(pdf)


def _sync_accepted(ticket: SyncTicket) -> JSONResponse:
    body = SyncAccepted(
        message="the PDF is being fetched from the bank; retry after estimated_seconds",
        estimated_seconds=ticket.estimated_seconds,
        job_id=ticket.job_id,
    )
    return JSONResponse(
        body.model_dump(),
        status_code=202,
        headers={
            "Retry-After": str(max(1, round(ticket.estimated_seconds))),
            "Location": f"/v1/jobs/{ticket.job_id}",
        },
    )


@router.post("/v1/proposals/{proposal_id}/boletos/sync", status_code=202)
async def sync_proposal(proposal_id: str, principal: Auth, service: Service) -> dict[str, str]:
    job = await service.sync_proposal(principal.tenant, proposal_id)
    if job is None:
        raise Problem(404, "not_found", f"no boletos for proposal {proposal_id}")
    return {"job_id": job["_id"]}


@router.get("/v1/jobs/{job_id}", response_model=Job)
async def get_job(job_id: str, principal: Auth, service: Service) -> Job:
    bind_ids(job_id=job_id)
    job = await service.job_view(principal.tenant, job_id)
    if job is None:
        raise Problem(404, "not_found", f"no job {job_id}")
    return Job(
        id=job["_id"],
        **{
            k: job[k]
            for k in ("kind", "status", "boleto_ids", "jobs", "error", "created_at", "updated_at")
        },
    )


@router.get("/v1/admin/rate-limit/stats", tags=["admin"])
async def rate_limit_stats(
    principal: Annotated[Principal, admin_key("rate_limit.stats")], service: Service
) -> dict[str, Any]:
    with audited(principal, "rate_limit.stats", "inter"):
        return await service.rate_limit_stats()


# The bank posts a few status changes at a time, each well under 1 KiB; anything far beyond
# that is not the bank, and is refused before it is parsed or reaches the database.
CALLBACK_MAX_BYTES = 256 * 1024
CALLBACK_MAX_ENTRIES = 500


class Callback(BaseModel):
    codigoSolicitacao: str = Field(min_length=1, max_length=64)
    situacao: str = Field(min_length=1, max_length=40)
    dataHoraSituacao: str | None = Field(default=None, max_length=40)


@router.post("/v1/inter/webhook", tags=["bank"], status_code=200)
async def inter_callback(
    request: Request, deps: Deps, token: Annotated[str | None, Query(max_length=256)] = None
) -> dict[str, int]:
    """Banco Inter's charge callbacks: a JSON array of status changes (at most
    ``CALLBACK_MAX_ENTRIES`` in ``CALLBACK_MAX_BYTES``; larger bodies get `413 too_large`).
    Hints only: ``to_check`` counts the charges the worker will fetch from the bank, whose
    answer alone sets the status."""
    if deps.webhook_token and not _same(token or "", deps.webhook_token):
        raise Problem(401, "unauthorized", "unknown webhook token")
    items = _callbacks(await _json(request))
    to_check = await deps.boletos.apply_callbacks([item.model_dump() for item in items])
    return {"received": len(items), "to_check": to_check}


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())  # in constant time


async def _json(request: Request) -> Any:
    try:
        return json.loads(await _bounded_body(request))
    except (ValueError, RecursionError):  # deep nesting is a RecursionError, not a ValueError
        raise Problem(400, "malformed_callback", "the callback body is not JSON") from None


async def _bounded_body(request: Request) -> bytes:
    """The body, read up to ``CALLBACK_MAX_BYTES`` whether or not its length was declared."""
    too_large = Problem(
        413, "too_large", f"a callback body holds at most {CALLBACK_MAX_BYTES} bytes"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > CALLBACK_MAX_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > CALLBACK_MAX_BYTES:
            raise too_large
    return bytes(body)


def _callbacks(body: Any) -> list[Callback]:
    if not isinstance(body, list):
        raise Problem(400, "malformed_callback", "the callback body must be a JSON array")
    if len(body) > CALLBACK_MAX_ENTRIES:
        raise Problem(
            413, "too_large", f"a callback body holds at most {CALLBACK_MAX_ENTRIES} entries"
        )
    try:
        return [Callback.model_validate(item) for item in body]
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise Problem(
            400, "malformed_callback", "a callback entry is not valid", errors=errors
        ) from None
