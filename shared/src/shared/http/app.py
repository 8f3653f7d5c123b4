"""The common shape of every HTTP service: problems, metrics, ops endpoints, auth state."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI
from starlette.middleware.gzip import GZipMiddleware

from shared.bootstrap import Infra
from shared.http.limits import HeaderLimits
from shared.http.ops import count_errors_from_zero, install_request_telemetry, ops_router
from shared.http.problems import install_problem_handlers
from shared.http.ratelimit import RateLimitHeaders
from shared.ratelimit.lease_repository import KeyBuckets
from shared.ratelimit.requests import RequestRateLimits
from shared.telemetry import untraced


def build_app(
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    routers: list[APIRouter],
) -> FastAPI:
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        # FastAPI's own server span per request, named by route template and continuing the
        # caller's traceparent; not its spans around every dependency and serialisation,
        # which cost more CPU than a cached read (docs/architecture.md, "The read path")
        telemetry={"operation_spans": False, "logs": False, "exclude": untraced},
    )
    install_problem_handlers(app)
    install_request_telemetry(app)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(HeaderLimits)  # the outermost: before anything reads the request
    for router in [*routers, ops_router()]:
        app.include_router(router)
    count_errors_from_zero(app)
    return app


async def attach_infra(app: FastAPI, infra: Infra) -> None:
    """The start-up every HTTP service shares: readiness, outages, API-key auth and each
    key's request rate."""
    app.state.infra = infra
    app.state.readiness = infra.readiness()
    app.state.outages = infra.outages
    app.state.api_keys = await infra.api_keys()
    app.state.rate_limits = RequestRateLimits(KeyBuckets(infra.db), infra.tenants)
