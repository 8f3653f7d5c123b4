"""``/v1/admin/tenants/{tenant}`` on the upload API (real SecantusDB): merge semantics, the
refusals (401, 403, 422 with a stable code) and the audit lines."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from structlog.testing import capture_logs

from shared.bootstrap import Infra
from shared.settings import InfraSettings
from shared.tenants import TenantLimits, TenantPrice
from tests.support.upload_api import served_upload_api

ADMIN_KEY = f"sk_admin_{uuid.uuid4().hex}"
TENANT_KEY = f"sk_tenant_{uuid.uuid4().hex}"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TENANT = {"Authorization": f"Bearer {TENANT_KEY}"}
DEFAULTS = TenantLimits().model_dump()
FREE = TenantPrice().model_dump()


@pytest.fixture
async def api(infra_settings: InfraSettings, infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    async with served_upload_api(
        infra_settings, dev_admin_key=ADMIN_KEY, dev_api_key=TENANT_KEY
    ) as client:
        yield client


async def test_get_reads_the_defaults_and_patch_merges(api: httpx.AsyncClient) -> None:
    fresh = await api.get("/v1/admin/tenants/acme", headers=ADMIN)
    assert fresh.status_code == 200
    assert fresh.json() == {"tenant": "acme", "limits": DEFAULTS, **FREE}
    first = await api.patch(
        "/v1/admin/tenants/acme", json={"limits": {"requests_per_s": 2.5}}, headers=ADMIN
    )
    second = await api.patch("/v1/admin/tenants/acme", json={"limits": {"burst": 5}}, headers=ADMIN)
    assert first.status_code == second.status_code == 200
    expected = {**DEFAULTS, "requests_per_s": 2.5, "burst": 5}
    assert second.json() == {"tenant": "acme", "limits": expected, **FREE}
    assert (await api.get("/v1/admin/tenants/acme", headers=ADMIN)).json()["limits"] == expected
    reset = await api.patch(
        "/v1/admin/tenants/acme", json={"limits": {"requests_per_s": None}}, headers=ADMIN
    )
    assert reset.json()["limits"] == {**DEFAULTS, "burst": 5}


async def test_patch_is_audited(api: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        await api.patch("/v1/admin/tenants/acme", json={"limits": {"burst": 5}}, headers=ADMIN)
        await api.patch("/v1/admin/tenants/acme", json={"limits": {"burst": 0}}, headers=ADMIN)
    audits = [line for line in logs if line["event"] == "admin.audit"]
    assert [(a["action"], a["target"], a["result"]) for a in audits] == [
        ("tenants.update", "acme", "ok"),
        ("tenants.update", "acme", "invalid_limit"),
    ]
    assert audits[0]["changes"] == {"burst": 5}


@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_only_admins_may_read_or_change_limits(api: httpx.AsyncClient, method: str) -> None:
    body = {"limits": {"burst": 1000}}
    anonymous = await api.request(method, "/v1/admin/tenants/acme", json=body)
    tenant = await api.request(method, "/v1/admin/tenants/acme", json=body, headers=TENANT)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
    assert (tenant.status_code, tenant.json()["code"]) == (403, "forbidden")
    limits = (await api.get("/v1/admin/tenants/acme", headers=ADMIN)).json()["limits"]
    assert limits["burst"] == DEFAULTS["burst"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"limits": {"colour": "red"}}, "unknown_limit"),
        ({"limits": {"burst": 5, "requests_per_minute": 3}}, "unknown_limit"),
        ({"limits": {"requests_per_s": 0}}, "invalid_limit"),
        ({"limits": {"burst": -3}}, "invalid_limit"),
        ({"limits": {"bank_share": 1.5}}, "invalid_limit"),
        ({"limits": {"webhooks": "many"}}, "invalid_limit"),
        ({"limits": {"webhooks": "7"}}, "invalid_limit"),
        ({"limits": {"burst": True}}, "invalid_limit"),
        ({"limits": {"jobs_in_flight": 10**12}}, "invalid_limit"),
        ({"limits": {"burst": 5}, "pricing": {}}, "validation_error"),
        ({"limits": [1, 2]}, "validation_error"),
    ],
)
async def test_bad_changes_are_refused_and_change_nothing(
    api: httpx.AsyncClient, body: object, code: str
) -> None:
    answer = await api.patch("/v1/admin/tenants/acme", json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code
    assert (await api.get("/v1/admin/tenants/acme", headers=ADMIN)).json()["limits"] == DEFAULTS


async def test_a_tenant_name_is_checked_like_the_api_keys(api: httpx.AsyncClient) -> None:
    answer = await api.get("/v1/admin/tenants/-bad$name", headers=ADMIN)
    assert (answer.status_code, answer.json()["code"]) == (422, "validation_error")
