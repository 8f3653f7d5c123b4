"""``/v1/admin/api-keys``: create (key shown once) and revoke."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from shared.admin.audit import admin_key, audited
from shared.auth.service import ApiKeys, Principal, UnknownKey
from shared.auth.tenants import Tenant
from shared.http.problems import Problem

router = APIRouter(prefix="/v1/admin/api-keys", tags=["admin"])


class ApiKeyCreate(BaseModel):
    tenant: Tenant
    admin: bool = False


class ApiKeyCreated(BaseModel):
    id: str
    key: str = Field(description="shown once; only its hash is stored")
    tenant: str
    admin: bool


async def _api_keys(request: Request) -> ApiKeys:
    return request.app.state.api_keys  # type: ignore[no-any-return]


@router.post("", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(
    body: ApiKeyCreate,
    principal: Annotated[Principal, admin_key("api_keys.create")],
    keys: Annotated[ApiKeys, Depends(_api_keys)],
) -> ApiKeyCreated:
    with audited(principal, "api_keys.create", body.tenant) as fields:
        key_id, key = await keys.create(body.tenant, body.admin, by=principal.key_id)
        fields.update(created_key_id=key_id, admin=body.admin)  # the id, never the key
    return ApiKeyCreated(id=key_id, key=key, tenant=body.tenant, admin=body.admin)


@router.delete("/{key_id}", status_code=204)
async def revoke_api_key(
    key_id: str,
    principal: Annotated[Principal, admin_key("api_keys.revoke")],
    keys: Annotated[ApiKeys, Depends(_api_keys)],
) -> Response:
    with audited(principal, "api_keys.revoke", key_id):
        try:
            await keys.revoke(key_id, by=principal.key_id)
        except UnknownKey:
            raise Problem(404, "not_found", f"no active API key {key_id}") from None
    return Response(status_code=204)
