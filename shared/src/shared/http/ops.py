"""Health, readiness and metrics for every process, and a small ops server for workers."""

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.circuit import Outages, Unavailable
from shared.http.problems import UNEXPECTED, problem_response
from shared.metrics import exposition
from shared.telemetry import current_trace_id

log = structlog.get_logger()

Check = Callable[[], bool]

HTTP_REQUESTS = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"]
)
HTTP_ERRORS = Counter("http_server_errors_total", "HTTP responses with status >= 500", ["route"])


class Readiness:
    """What ``/readyz`` answers, from state the process keeps: it never calls out, so it
    answers at once under any load. Ready means "send me work": the process is serving (not
    starting, not draining) and its own ``checks`` hold. A shared dependency being down is
    reported, not failed on: every replica would leave the Service at once, and callers would
    meet refused connections instead of the clear 503s the replicas give while it is down
    (docs/architecture.md, "Probes")."""

    def __init__(
        self,
        outages: Outages,
        broker_connected: Check,
        checks: dict[str, Check] | None = None,
    ) -> None:
        self.outages, self.broker_connected = outages, broker_connected
        self.checks = dict(checks or {})
        self.serving = False

    def report(self) -> tuple[bool, dict[str, Any]]:
        own = {name: check() for name, check in self.checks.items()}
        ready = self.serving and all(own.values())
        dependencies: dict[str, Any] = {c.name: c.report() for c in self.outages.circuits()}
        dependencies["rabbitmq"] = {"connected": self.broker_connected()}
        body = {"ready": ready, "serving": self.serving, "checks": own}
        return ready, {**body, "dependencies": dependencies}


def ops_router() -> APIRouter:
    """Liveness answers whenever the event loop does; readiness reads ``app.state.readiness``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        ready, body = request.app.state.readiness.report()
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return router


def count_errors_from_zero(app: FastAPI) -> None:
    """Every route's 5xx count exported at 0 from the start: a healthy API's error ratio reads
    0 instead of nothing, and the series exists before the first error (docs/monitoring.md)."""
    for route in [*app.routes, None]:
        HTTP_ERRORS.labels(getattr(route, "path", "unmatched"))


def install_request_telemetry(app: FastAPI) -> None:
    """The request's trace id (of FastAPI's server span) bound into the logs and returned as
    ``X-Trace-Id``, its latency by route template in /metrics, a 503 at once while the
    database's circuit is open, and a problem for any error no handler turned into a
    response: 503 ``unavailable`` for a dependency's outage, 500 ``internal`` otherwise."""
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
        outages: Outages | None = getattr(scope["app"].state, "outages", None)
        try:
            if outages is not None and scope["path"].startswith("/v1/"):
                outages.mongodb.check()  # every API route reads the database
            await self.app(scope, receive, send_traced)
        except Exception as exc:  # an error no handler turned into a response
            outage = outages.failed(exc) if outages is not None else None
            if outage is None:
                log.exception("http.unhandled_error", error=type(exc).__name__)
            if status:
                raise
            if outage is None:
                await problem_response(500, "internal", UNEXPECTED)(scope, receive, send_traced)
            else:
                await unavailable(outage)(scope, receive, send_traced)
        finally:
            structlog.contextvars.unbind_contextvars("trace_id", "tenant_id", "job_id")
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], route, status or 500).observe(
                time.perf_counter() - started
            )
            if not status or status >= 500:
                HTTP_ERRORS.labels(route).inc()


def unavailable(outage: Unavailable) -> JSONResponse:
    retry_after = max(1, math.ceil(outage.retry_after_s))
    log.warning("http.dependency_unavailable", dependency=outage.dependency)
    return problem_response(
        503,
        "unavailable",
        f"{outage.dependency} is unavailable; retry after {retry_after} s",
        {"Retry-After": str(retry_after)},
        dependency=outage.dependency,
    )


async def serve_ops(readiness: Readiness, host: str, port: int) -> None:
    """Run the ops endpoints of a worker process until cancelled."""
    app = FastAPI(openapi_url=None, telemetry={"tracing": False, "logs": False})
    app.state.readiness = readiness
    app.include_router(ops_router())
    server = _EmbeddedServer(
        # log_config=None: its records reach the root logger's JSON handler (shared.logging)
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", log_config=None
        )
    )
    await server.serve()


class _EmbeddedServer(uvicorn.Server):
    """Leaves signals to the worker that embeds it."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
