"""One ``admin.audit`` log line per admin view or action: who (the key's id and tenant, never
the key), what, on what, and how it ended, including refusals and failures."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import structlog
from fastapi import Depends

from shared.auth import Principal, require_admin, require_principal
from shared.http.problems import Problem

log = structlog.get_logger()


def audit(principal: Principal, action: str, target: str, result: str, **fields: Any) -> None:
    log.info(
        "admin.audit",
        key_id=principal.key_id,
        key_tenant=principal.tenant,
        action=action,
        target=target,
        result=result,
        **fields,
    )


@contextmanager
def audited(principal: Principal, action: str, target: str) -> Iterator[dict[str, Any]]:
    """Audit the block: ``ok`` with the fields it put in the yielded dict, or the stable code
    of the problem it raised (``error`` for anything else)."""
    fields: dict[str, Any] = {}
    try:
        yield fields
    except Problem as problem:
        audit(principal, action, target, problem.code, **fields)
        raise
    except Exception:
        audit(principal, action, target, "error", **fields)
        raise
    audit(principal, action, target, "ok", **fields)


def admin_key(action: str) -> Any:
    """A dependency: the admin principal, with a non-admin key's refusal audited too (a
    missing or unknown key is refused before anyone is known, with 401, and not audited)."""

    async def admin(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
        try:
            return await require_admin(principal)
        except Problem as problem:
            audit(principal, action, "-", problem.code)
            raise

    return Depends(admin)
