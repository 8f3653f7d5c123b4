"""Health, readiness and metrics for every process, and a small ops server for workers."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry import propagate, trace
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from shared.http.problems import UNEXPECTED, problem_response
from shared.telemetry import current_trace_id, tracer

log = structlog.get_logger()

Check = Callable[[], Awaitable[bool]]

HTTP_REQUESTS = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"]
)
HTTP_ERRORS = Counter("http_server_errors_total", "HTTP responses with status >= 500", ["route"])


def ops_router() -> APIRouter:
    """Readiness runs the checks found in ``app.state.checks``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, Check] = request.app.state.checks
        results = await asyncio.gather(*(_safe(check) for check in checks.values()))
        status = dict(zip(checks, results, strict=True))
        ready = all(results)
        return JSONResponse({"ready": ready, "checks": status}, status_code=200 if ready else 503)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _safe(check: Check) -> bool:
    try:
        return await asyncio.wait_for(check(), timeout=3)
    except Exception:
        return False


def install_request_telemetry(app: FastAPI) -> None:
    """A server span per request (continuing the caller's ``traceparent``), its trace id bound
    into the logs and returned as ``X-Trace-Id``, and the request's latency in /metrics."""

    @app.middleware("http")
    async def _observe(request: Request, call_next):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        context = propagate.extract(dict(request.headers))
        with tracer.start_as_current_span(
            f"{request.method} {request.url.path}", context=context, kind=trace.SpanKind.SERVER
        ):
            trace_id = current_trace_id()
            structlog.contextvars.bind_contextvars(trace_id=trace_id)
            try:
                response = await call_next(request)
            except Exception as exc:  # an error no handler turned into a response
                log.exception("http.unhandled_error", error=type(exc).__name__)
                response = problem_response(500, "internal", UNEXPECTED)
            finally:
                structlog.contextvars.unbind_contextvars("trace_id", "tenant_id")
        if trace_id:
            response.headers["X-Trace-Id"] = trace_id
        route = getattr(request.scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(request.method, route, response.status_code).observe(
            time.perf_counter() - started
        )
        if response.status_code >= 500:
            HTTP_ERRORS.labels(route).inc()
        return response


async def serve_ops(checks: dict[str, Check], host: str, port: int) -> None:
    """Run the ops endpoints of a worker process until cancelled."""
    app = FastAPI(openapi_url=None)
    app.state.checks = checks
    app.include_router(ops_router())
    server = _EmbeddedServer(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    )
    await server.serve()


class _EmbeddedServer(uvicorn.Server):
    """Leaves signals to the worker that embeds it."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
