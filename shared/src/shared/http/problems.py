"""Errors as RFC 9457 ``application/problem+json`` with a stable ``code``.

Errors a user can cause carry a clear message; errors we cause carry a trace id to quote.
"""

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.telemetry import current_trace_id

log = structlog.get_logger()

PROBLEM = "application/problem+json"
UNEXPECTED = "internal error; quote the trace id when reporting it"
# a body with thousands of bad items gets the first few and a count, not an answer larger
# than what was sent
MAX_ERRORS = 20


class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


def problem_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    if trace_id := current_trace_id():
        body["trace_id"] = trace_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        found = exc.errors()
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in found[:MAX_ERRORS]]
        extra: dict[str, Any] = {"errors": errors}
        if len(found) > MAX_ERRORS:
            extra["more_errors"] = len(found) - MAX_ERRORS
        return problem_response(422, "validation_error", "the request is not valid", **extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return problem_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled_error", error=type(exc).__name__)
        return problem_response(500, "internal", UNEXPECTED)
