"""Health, readiness and metrics for every process, and a small ops server for workers."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.problems import UNEXPECTED, problem_response
from shared.telemetry import current_trace_id

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
    """The request's trace id (of FastAPI's server span) bound into the logs and returned as
    ``X-Trace-Id``, its latency by route template in /metrics, and a problem for any error no
    handler turned into a response."""
    app.add_middleware(RequestTelemetry)


class RequestTelemetry:
    """Plain ASGI, not ``BaseHTTPMiddleware``: no extra task or body streams per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        trace_id = current_trace_id()
        extra = [(b"x-trace-id", trace_id.encode())] if trace_id else []
        status = 0

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        structlog.contextvars.bind_contextvars(trace_id=trace_id)
        try:
            await self.app(scope, receive, send_traced)
        except Exception as exc:  # an error no handler turned into a response
            log.exception("http.unhandled_error", error=type(exc).__name__)
            if status:
                raise
            await problem_response(500, "internal", UNEXPECTED)(scope, receive, send_traced)
        finally:
            structlog.contextvars.unbind_contextvars("trace_id", "tenant_id")
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], route, status or 500).observe(
                time.perf_counter() - started
            )
            if not status or status >= 500:
                HTTP_ERRORS.labels(route).inc()


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
