"""FastAPI dependencies: ``Authorization: Bearer <key>`` -> Principal, or a 401 problem."""

import math
from typing import Annotated

import structlog
from fastapi import Depends, Request

from shared.auth.guard import TooManyFailedLookups
from shared.auth.service import ApiKeys, Principal
from shared.http.problems import Problem
from shared.http.ratelimit import limit_request

__all__ = ["Principal", "require_admin", "require_principal"]


def bearer_key(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


async def require_principal(request: Request) -> Principal:
    key = bearer_key(request)
    if key is None:
        raise _unauthorized("missing bearer API key")
    api_keys: ApiKeys = request.app.state.api_keys
    address = request.client.host if request.client else "-"
    try:
        principal = await api_keys.authenticate(key, address)
    except TooManyFailedLookups as refused:
        raise _too_many_failed(refused) from None
    if principal is None:
        raise _unauthorized("invalid or revoked API key")
    structlog.contextvars.bind_contextvars(tenant_id=principal.tenant)
    await limit_request(request, principal)
    return principal


async def require_admin(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    if not principal.admin:
        raise Problem(403, "forbidden", "this operation needs an admin key")
    return principal


def _too_many_failed(refused: TooManyFailedLookups) -> Problem:
    retry_after = max(1, math.ceil(refused.retry_after_s))
    problem = Problem(
        429,
        "too_many_failed_keys",
        f"too many invalid API keys from this address; retry after {retry_after} s",
    )
    problem.headers["Retry-After"] = str(retry_after)
    return problem


def _unauthorized(detail: str) -> Problem:
    problem = Problem(401, "unauthorized", detail)
    problem.headers["WWW-Authenticate"] = "Bearer"
    return problem
