"""``/v1/conversions/{id}/payer`` and ``/payment/...``: a paid conversion's payer, its boleto,
its Pix QR code and (development only) a simulated payment."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from shared.auth import Principal, require_principal
from shared.logging import bind_ids
from shared.payer import Payer
from upload.bootstrap import ApiDeps
from upload.errors import InvalidPayer
from upload.payment import validate_payer
from upload.payments import Payments
from upload.schemas import Job
from upload.service import UploadService

router = APIRouter(prefix="/v1/conversions", tags=["payments"])
Auth = Annotated[Principal, Depends(require_principal)]


def _deps(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.deps
    return deps


async def _uploads(request: Request) -> UploadService:
    return _deps(request).uploads


async def _payments(request: Request) -> Payments:
    return _deps(request).payments


Uploads = Annotated[UploadService, Depends(_uploads)]
PaymentsDep = Annotated[Payments, Depends(_payments)]
NOT_READY: dict[int | str, dict[str, Any]] = {
    409: {"description": "`payment_not_ready`: the bank has not issued the charge"}
}
_PAYER_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": Payer.model_json_schema()}},
    }
}


@router.put(
    "/{job_id}/payer",
    response_model=Job,
    openapi_extra=_PAYER_BODY,
    responses={
        409: {"description": "`payment_not_required` (a free job) or `payer_locked`"},
        422: {"description": "`invalid_payer`: which field and why"},
    },
)
async def put_payer(job_id: str, request: Request, principal: Auth, uploads: Uploads) -> Response:
    """The payer of a paid conversion; on a completed one this requests its charge (again
    after a failed charge)."""
    bind_ids(job_id=job_id)
    job = await uploads.set_payer(principal.tenant, job_id, validate_payer(await _json(request)))
    return Response(Job.from_document(job).model_dump_json(), media_type="application/json")


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise InvalidPayer("the payer must be a JSON object in the bank's field names") from None


@router.get(
    "/{job_id}/payment/boleto.pdf",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/pdf": {}}}, **NOT_READY},
)
async def get_boleto(job_id: str, principal: Auth, payments: PaymentsDep) -> StreamingResponse:
    bind_ids(job_id=job_id)
    pdf = await payments.boleto_pdf(principal.tenant, job_id)
    headers = {
        "Content-Length": str(pdf.size),
        "Content-Disposition": f'inline; filename="boleto-{job_id}.pdf"',
    }
    return StreamingResponse(pdf.chunks, media_type="application/pdf", headers=headers)


@router.get(
    "/{job_id}/payment/pix.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **NOT_READY},
)
async def get_pix_qr(job_id: str, principal: Auth, payments: PaymentsDep) -> Response:
    bind_ids(job_id=job_id)
    svg = await payments.pix_svg(principal.tenant, job_id)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private"})


@router.post(
    "/{job_id}/payment/simulate",
    status_code=202,
    responses={
        404: {"description": "no sandbox bank configured, or no such paid conversion"},
        **NOT_READY,
        503: {"description": "`bank_unavailable`: the sandbox bank cannot be reached"},
    },
)
async def simulate_payment(job_id: str, principal: Auth, payments: PaymentsDep) -> Response:
    """Development only: the sandbox bank pays the charge; the payment then arrives through
    the bank's callback (``charge.paid``), like a real one."""
    bind_ids(job_id=job_id)
    await payments.simulate_paid(principal.tenant, job_id)
    return Response(status_code=202)
