"""``/v1/conversions``: entry points translate HTTP into calls on the upload service."""

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from shared.auth import Principal, require_principal
from shared.formats import TARGET_NAMES
from shared.http.conditional import NOT_MODIFIED, conditional, etag_matches
from shared.http.problems import Problem, problem_response
from shared.logging import bind_ids
from shared.pagination import Cursor, InvalidCursor
from shared.service import AppStopping
from upload.bootstrap import ApiDeps
from upload.errors import (
    BankUnavailable,
    FieldTooLarge,
    MalformedBody,
    NotAForm,
    NotASchedule,
    NotFound,
    NotReady,
    PayerLocked,
    PaymentNotReady,
    PaymentNotRequired,
    PaymentRequired,
    Refused,
    ResultExpired,
    TooLarge,
    TooManyParts,
)
from upload.quotas import QuotaExceeded, ServerBusy, TooManyJobs, TooManyUploads
from upload.receive import FormBody
from upload.schemas import Job, JobList
from upload.service import UploadService

router = APIRouter(prefix="/v1/conversions", tags=["conversions"])
Auth = Annotated[Principal, Depends(require_principal)]

# what the service refuses, as HTTP: the rest (invalid input, a failed job, a reused key) is 422
_STATUS: dict[type[Refused], int] = {
    MalformedBody: 400,
    PaymentRequired: 402,
    NotFound: 404,
    NotReady: 409,
    PaymentNotRequired: 409,
    PayerLocked: 409,
    PaymentNotReady: 409,
    ResultExpired: 410,
    TooLarge: 413,
    TooManyParts: 413,
    FieldTooLarge: 413,
    NotAForm: 415,
    NotASchedule: 415,
    TooManyUploads: 429,
    TooManyJobs: 429,
    ServerBusy: 503,
    BankUnavailable: 503,
}


async def refused(_: Request, exc: Exception) -> JSONResponse:
    """The exception handler of every ``Refused``: a problem with the refusal's code."""
    assert isinstance(exc, Refused)
    retry = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, QuotaExceeded) else None
    return problem_response(
        _STATUS.get(type(exc), 422), exc.code, exc.message, retry, **exc.details
    )


async def _uploads(request: Request) -> UploadService:
    deps: ApiDeps = request.app.state.deps
    return deps.uploads


Uploads = Annotated[UploadService, Depends(_uploads)]

_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "target": {
                            "type": "string",
                            "enum": list(TARGET_NAMES),
                            "default": "mspdi",
                        },
                        "password": {"type": "string"},
                        "timephased": {"type": "boolean", "default": False},
                        "payer": {
                            "type": "string",
                            "description": "a paying tenant's payer as JSON in the bank's "
                            "field names (see PUT .../payer); ignored for a free tenant",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=202,
    response_model=Job,
    openapi_extra=_UPLOAD_SCHEMA,
    responses={
        413: {"description": "over the size limit"},
        415: {"description": "not a schedule"},
        429: {"description": "`too_many_uploads` (this key) or `too_many_jobs` (the tenant)"},
        503: {"description": "`server_busy`: this process takes no more uploads at once"},
    },
)
async def create_conversion(
    request: Request,
    principal: Auth,
    uploads: Uploads,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JSONResponse:
    declared = request.headers.get("content-length")
    body = FormBody(
        request.headers.get("content-type", ""),
        int(declared) if declared and declared.isdigit() else None,
        request.stream(),
    )
    created = await uploads.create(principal.tenant, idempotency_key, body, key_id=principal.key_id)
    job = Job.from_document(created)
    return JSONResponse(
        job.model_dump(mode="json"), status_code=202, headers={"Location": job.links.self}
    )


@router.get("", response_model=JobList)
async def list_conversions(
    principal: Auth,
    uploads: Uploads,
    status: Literal["queued", "converting", "completed", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    page = await uploads.page(principal.tenant, status, limit, _cursor(cursor))
    listed = JobList(items=[Job.from_document(d) for d in page.items], next_cursor=page.next_cursor)
    return Response(listed.model_dump_json(), media_type="application/json")


def _cursor(text: str | None) -> Cursor | None:
    try:
        return Cursor.decode(text) if text else None
    except InvalidCursor as exc:
        raise Problem(422, "invalid_cursor", str(exc)) from None


FINAL = ("completed", "failed")
MAX_WAIT_S = 60


@router.get(
    "/{job_id}",
    response_model=Job,
    responses=NOT_MODIFIED,
)
async def get_conversion(
    job_id: str,
    principal: Auth,
    uploads: Uploads,
    stopping: AppStopping,
    if_none_match: Annotated[str | None, Header()] = None,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_S,
            description="Long polling: hold the request up to this many seconds until the job "
            "differs from the client's `If-None-Match` (without one: until an unfinished job "
            "changes). A finished job without `If-None-Match` answers at once.",
        ),
    ] = 0,
) -> Response:
    bind_ids(job_id=job_id)
    entry = await uploads.view(principal.tenant, job_id)
    if wait > 0:
        held = if_none_match if if_none_match else entry.etag
        finished_and_unseen = not if_none_match and entry.doc["status"] in FINAL
        if etag_matches(held, entry.etag) and not finished_and_unseen:
            # a replica asked to stop answers as things stand rather than hold its shutdown
            changed = uploads.changed(principal.tenant, job_id, entry.etag, wait)
            entry = await stopping.first(changed) or await uploads.view(principal.tenant, job_id)
    return conditional(entry, if_none_match)


@router.get(
    "/{job_id}/result",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        402: {"description": "`payment_required`: the charge is not paid yet (`payment` says)"},
        409: {"description": "not ready"},
        422: {"description": "the job failed"},
    },
)
async def get_result(job_id: str, principal: Auth, uploads: Uploads) -> StreamingResponse:
    bind_ids(job_id=job_id)
    download = await uploads.download(principal.tenant, job_id)
    headers = {
        "Content-Disposition": _disposition(download.filename),
        "Content-Length": str(download.size),
        "ETag": f'"{download.sha256}"',
    }
    return StreamingResponse(download.chunks, media_type=download.media_type, headers=headers)


def _disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@router.delete("/{job_id}", status_code=204)
async def delete_conversion(job_id: str, principal: Auth, uploads: Uploads) -> Response:
    bind_ids(job_id=job_id)
    await uploads.delete(principal.tenant, job_id)
    return Response(status_code=204)
