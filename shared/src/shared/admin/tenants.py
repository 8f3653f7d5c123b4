"""``/v1/admin/tenants/{tenant}``: read and merge-patch a tenant's limits (admin, audited).

The body's ``limits`` holds only the fields to change; ``null`` sets one back to its default.
Effective on every replica within ``TenantSettings.refresh_s`` (2 s)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.admin.audit import admin_key, audited
from shared.auth import Principal
from shared.auth.tenants import TENANT_MAX_LENGTH, TENANT_PATTERN
from shared.http.problems import Problem
from shared.tenants import TenantLimits, TenantSettings, UnknownLimit

router = APIRouter(prefix="/v1/admin/tenants", tags=["admin"])

TenantName = Annotated[
    str, Path(min_length=1, max_length=TENANT_MAX_LENGTH, pattern=TENANT_PATTERN)
]


class TenantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limits: dict[str, Any] = Field(
        default_factory=dict, description="the limits to change; null restores a default"
    )


class TenantView(BaseModel):
    tenant: str
    limits: TenantLimits = Field(description="every limit in force: overrides over defaults")


def _tenants(request: Request) -> TenantSettings:
    return request.app.state.infra.tenants  # type: ignore[no-any-return]


@router.get("/{tenant}", response_model=TenantView, summary="A tenant's limits in force")
async def read_tenant(
    tenant: TenantName,
    request: Request,
    principal: Annotated[Principal, admin_key("tenants.view")],
) -> TenantView:
    with audited(principal, "tenants.view", tenant):
        limits = await _tenants(request).read(tenant)
    return TenantView(tenant=tenant, limits=limits)


@router.patch(
    "/{tenant}",
    response_model=TenantView,
    summary="Change some of a tenant's limits, the others staying as they are",
    responses={422: {"description": "`unknown_limit` or `invalid_limit`"}},
)
async def patch_tenant(
    tenant: TenantName,
    body: TenantPatch,
    request: Request,
    principal: Annotated[Principal, admin_key("tenants.update")],
) -> TenantView:
    """Merge the given limits into the tenant's; `null` restores a field's default. A field
    that is not a limit answers `422 unknown_limit`, a value out of range `422 invalid_limit`
    (nothing changes then). Every replica applies the change within seconds."""
    with audited(principal, "tenants.update", tenant) as fields:
        fields["changes"] = body.limits
        try:
            limits = await _tenants(request).update(tenant, body.limits)
        except UnknownLimit as unknown:
            known = ", ".join(TenantLimits.model_fields)
            raise Problem(
                422, "unknown_limit", f"{unknown}; the limits are {known}", fields=unknown.names
            ) from None
        except ValidationError as invalid:
            errors = [{"field": _field(e), "msg": e["msg"]} for e in invalid.errors()]
            raise Problem(
                422, "invalid_limit", "a limit is out of range or not a number", errors=errors
            ) from None
    return TenantView(tenant=tenant, limits=limits)


def _field(error: Any) -> str:
    return ".".join(str(part) for part in error.get("loc", ()))
