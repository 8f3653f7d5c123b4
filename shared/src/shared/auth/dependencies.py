"""FastAPI dependencies: ``Authorization: Bearer <key>`` -> Principal, or a 401 problem."""

from typing import Annotated

import structlog
from fastapi import Depends, Request

from shared.auth.service import ApiKeys, Principal
from shared.http.problems import Problem

__all__ = ["Principal", "require_admin", "require_principal"]


async def require_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("missing bearer API key")
    api_keys: ApiKeys = request.app.state.api_keys
    principal = await api_keys.authenticate(key.strip())
    if principal is None:
        raise _unauthorized("invalid or revoked API key")
    structlog.contextvars.bind_contextvars(tenant_id=principal.tenant)
    return principal


async def require_admin(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    if not principal.admin:
        raise Problem(403, "forbidden", "this operation needs an admin key")
    return principal


def _unauthorized(detail: str) -> Problem:
    problem = Problem(401, "unauthorized", detail)
    problem.headers["WWW-Authenticate"] = "Bearer"
    return problem
