"""``/v1/admin/tenants/{tenant}``: read and merge-patch a tenant's limits and price per
conversion (admin, audited).

The body's ``limits`` holds only the limits to change, and ``price_cents``, ``currency`` and
``due_days`` (top level) only the price's; ``null`` sets one back to its default.
Effective on every replica within ``TenantSettings.refresh_s`` (2 s)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from shared.admin.audit import admin_key, audited
from shared.auth import Principal
from shared.auth.tenants import TENANT_MAX_LENGTH, TENANT_PATTERN
from shared.http.problems import Problem
from shared.tenants import (
    MAX_PRICE_CENTS,
    PRICE_FIELDS,
    InvalidPrice,
    TenantConfig,
    TenantLimits,
    TenantSettings,
    UnknownLimit,
)

router = APIRouter(prefix="/v1/admin/tenants", tags=["admin"])

TenantName = Annotated[
    str, Path(min_length=1, max_length=TENANT_MAX_LENGTH, pattern=TENANT_PATTERN)
]


def _or_null(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [schema, {"type": "null"}]})


# checked by ``TenantPrice`` (strictly, into ``422 invalid_price``), not by the body's
# parsing; the schemas still say what is accepted
PriceCents = Annotated[Any, _or_null({"type": "integer", "minimum": 0, "maximum": MAX_PRICE_CENTS})]
Currency = Annotated[Any, _or_null({"type": "string", "enum": ["BRL"]})]
DueDays = Annotated[Any, _or_null({"type": "integer", "minimum": 1, "maximum": 60})]


class TenantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limits: dict[str, Any] = Field(
        default_factory=dict, description="the limits to change; null restores a default"
    )
    price_cents: PriceCents = Field(
        default=None,
        description="price per conversion in centavos, at most R$ 99.999.999,99 (Banco Inter's "
        "largest charge); 0 or null: free",
    )
    currency: Currency = Field(
        default=None, description="only BRL (Banco Inter charges in reais); null: BRL"
    )
    due_days: DueDays = Field(
        default=None, description="days from a charge to its due date, 1 to 60; null: 3"
    )

    def price_changes(self) -> dict[str, Any]:
        """Only the price fields given (a ``null`` given restores its default)."""
        return {name: getattr(self, name) for name in PRICE_FIELDS if name in self.model_fields_set}


class TenantView(BaseModel):
    tenant: str
    limits: TenantLimits = Field(description="every limit in force: overrides over defaults")
    price_cents: int = Field(description="price per conversion in centavos; 0: free")
    currency: str = Field(description="always BRL")
    due_days: int = Field(description="days from a charge to its due date")

    @classmethod
    def of(cls, tenant: str, config: TenantConfig) -> "TenantView":
        return cls(tenant=tenant, limits=config.limits, **config.price.model_dump())


def _tenants(request: Request) -> TenantSettings:
    return request.app.state.infra.tenants  # type: ignore[no-any-return]


@router.get("/{tenant}", response_model=TenantView, summary="A tenant's limits and price in force")
async def read_tenant(
    tenant: TenantName,
    request: Request,
    principal: Annotated[Principal, admin_key("tenants.view")],
) -> TenantView:
    with audited(principal, "tenants.view", tenant):
        config = await _tenants(request).read_config(tenant)
    return TenantView.of(tenant, config)


@router.patch(
    "/{tenant}",
    response_model=TenantView,
    summary="Change some of a tenant's limits or price, the others staying as they are",
    responses={422: {"description": "`unknown_limit`, `invalid_limit` or `invalid_price`"}},
)
async def patch_tenant(
    tenant: TenantName,
    body: TenantPatch,
    request: Request,
    principal: Annotated[Principal, admin_key("tenants.update")],
) -> TenantView:
    """Merge the given limits and price fields into the tenant's; `null` restores a field's
    default. A field that is not a limit answers `422 unknown_limit`, a limit out of range
    `422 invalid_limit`, a price out of range, a currency other than BRL or a `due_days`
    outside 1..60 `422 invalid_price` (nothing changes then). A tenant is free while
    `price_cents` is 0 (the default). Every replica applies the change within seconds."""
    price = body.price_changes()
    with audited(principal, "tenants.update", tenant) as fields:
        fields["changes"] = {**body.limits, **price}
        try:
            config = await _tenants(request).patch(tenant, body.limits, price)
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
        except InvalidPrice as invalid:
            raise Problem(
                422,
                "invalid_price",
                _price_message(invalid),
                errors=[{"field": _field(e), "msg": e["msg"]} for e in invalid.errors],
            ) from None
    return TenantView.of(tenant, config)


def _price_message(invalid: InvalidPrice) -> str:
    fields = ", ".join(sorted({_field(e) for e in invalid.errors}))
    return (
        f"invalid {fields}: price_cents is an integer from 0 (free) to {MAX_PRICE_CENTS}, "
        "currency only BRL (Banco Inter charges in reais), due_days an integer from 1 to 60"
    )


def _field(error: Any) -> str:
    return ".".join(str(part) for part in error.get("loc", ()))
