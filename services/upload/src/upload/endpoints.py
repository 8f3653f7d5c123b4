"""``/v1/conversions``: entry points translate HTTP into calls on the upload service."""

import base64
import binascii
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from shared.auth import Principal, require_principal
from shared.events import ConversionOptions
from shared.formats import TARGET_NAMES, extension
from shared.http.problems import Problem
from shared.storage import ObjectNotFound
from upload.cache import JobCache
from upload.receive import receive_form
from upload.repository import JobRepository
from upload.schemas import Job, JobList
from upload.service import (
    IdempotencyConflict,
    Upload,
    UploadService,
    new_job_id,
    safe_filename,
    source_key,
)
from upload.settings import UploadSettings

router = APIRouter(prefix="/v1/conversions", tags=["conversions"])
Auth = Annotated[Principal, Depends(require_principal)]

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
                    },
                }
            }
        },
    }
}
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


def _service(request: Request) -> UploadService:
    return request.app.state.uploads  # type: ignore[no-any-return]


def _jobs(request: Request) -> JobRepository:
    return request.app.state.jobs  # type: ignore[no-any-return]


def _settings(request: Request) -> UploadSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _accepted(job: dict[str, Any]) -> JSONResponse:
    body = Job.from_document(job)
    return JSONResponse(
        body.model_dump(mode="json"), status_code=202, headers={"Location": body.links.self}
    )


@router.post(
    "",
    status_code=202,
    response_model=Job,
    openapi_extra=_UPLOAD_SCHEMA,
    responses={413: {"description": "over the size limit"}, 415: {"description": "not a schedule"}},
)
async def create_conversion(
    request: Request,
    principal: Auth,
    service: Annotated[UploadService, Depends(_service)],
    settings: Annotated[UploadSettings, Depends(_settings)],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JSONResponse:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes + 64 * 1024:
        raise Problem(
            413, "too_large", f"the upload exceeds the limit of {settings.max_upload_bytes} bytes"
        )
    job_id = new_job_id(principal.tenant, idempotency_key)
    if idempotency_key and (existing := await service.jobs.get(principal.tenant, job_id)):
        return _accepted(existing)
    form = await receive_form(
        request.stream(),
        request.headers.get("content-type", ""),
        service.store,
        source_key(principal.tenant, job_id),
        settings.max_upload_bytes,
        settings.max_field_bytes,
    )
    assert form.source is not None
    try:
        upload = Upload(
            job_id,
            principal.tenant,
            safe_filename(form.filename),
            form.source,
            form.format,
            _options(form.fields),
            form.fields.get("password") or None,
        )
        job = await service.accept(upload)
    except IdempotencyConflict:
        raise Problem(
            422, "idempotency_key_reused", "this Idempotency-Key was used with a different file"
        ) from None
    except BaseException:
        await service.store.delete(form.source.key)
        raise
    return _accepted(job)


def _options(fields: dict[str, str]) -> ConversionOptions:
    flag = fields.get("timephased", "false").strip().lower()
    if flag not in _TRUE | _FALSE:
        raise Problem(422, "validation_error", "timephased must be true or false")
    target = fields.get("target", "mspdi").strip().lower() or "mspdi"
    try:
        return ConversionOptions.model_validate({"target": target, "timephased": flag in _TRUE})
    except ValidationError:
        raise Problem(
            422,
            "validation_error",
            f"target must be one of {', '.join(TARGET_NAMES)}",
        ) from None


@router.get("", response_model=JobList)
async def list_conversions(
    principal: Auth,
    jobs: Annotated[JobRepository, Depends(_jobs)],
    settings: Annotated[UploadSettings, Depends(_settings)],
    status: Literal["queued", "converting", "completed", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> JobList:
    docs = await jobs.page(
        principal.tenant,
        status,
        min(limit, settings.list_max_limit) + 1,
        _decode_cursor(cursor) if cursor else None,
    )
    page, more = docs[:limit], len(docs) > limit
    next_cursor = _encode_cursor(page[-1]) if more and page else None
    return JobList(items=[Job.from_document(d) for d in page], next_cursor=next_cursor)


def _encode_cursor(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(
        f"{doc['created_at'].isoformat()}|{doc['_id']}".encode()
    ).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(created), job_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Problem(422, "invalid_cursor", "the cursor is not one this API returned") from None


async def _job(request: Request, principal: Principal, job_id: str) -> dict[str, Any]:
    cache: JobCache = request.app.state.cache
    job = await cache.fetch(job_id, request.app.state.jobs.by_id)
    if job is None or job["tenant"] != principal.tenant:
        raise Problem(404, "not_found", f"no conversion {job_id}")
    return job


@router.get("/{job_id}", response_model=Job)
async def get_conversion(job_id: str, principal: Auth, request: Request) -> Job:
    return Job.from_document(await _job(request, principal, job_id))


@router.get(
    "/{job_id}/result",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        409: {"description": "not ready"},
        422: {"description": "the job failed"},
    },
)
async def get_result(
    job_id: str,
    principal: Auth,
    request: Request,
    service: Annotated[UploadService, Depends(_service)],
) -> StreamingResponse:
    job = await _job(request, principal, job_id)
    if job["status"] == "failed":
        error = job.get("error") or {}
        raise Problem(
            422, error.get("code", "internal"), error.get("message", "the conversion failed")
        )
    if job["status"] != "completed":
        raise Problem(
            409,
            "not_ready",
            f"the conversion is {job['status']}; poll the job until completed",
            job_status=job["status"],
        )
    result = job["result"]
    try:
        size = await service.store.size(result["key"])
    except ObjectNotFound:
        raise Problem(410, "result_expired", "the result is no longer stored") from None
    stem = PurePath(job["source"]["filename"]).stem or "result"
    name = f"{stem}.{extension(job['options']['target'])}"
    headers = {
        "Content-Disposition": _disposition(name),
        "Content-Length": str(size),
        "ETag": f'"{result["sha256"]}"',
    }
    return StreamingResponse(
        service.store.read(result["key"]), media_type=result["media_type"], headers=headers
    )


def _disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@router.delete("/{job_id}", status_code=204)
async def delete_conversion(
    job_id: str,
    principal: Auth,
    request: Request,
    service: Annotated[UploadService, Depends(_service)],
) -> Response:
    deleted = await service.delete(principal.tenant, job_id)
    request.app.state.cache.forget(job_id)
    if not deleted:
        raise Problem(404, "not_found", f"no conversion {job_id}")
    return Response(status_code=204)
