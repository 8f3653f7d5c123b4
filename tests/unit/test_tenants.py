"""Tenant limits: their bounds and the TENANT_DEFAULT_* defaults."""

import pytest
from pydantic import ValidationError

from shared.tenants import LIMIT_FIELDS, TenantLimits, default_limits


def test_every_field_has_a_documented_default() -> None:
    assert set(LIMIT_FIELDS) == {
        "requests_per_s",
        "burst",
        "concurrent_uploads",
        "jobs_in_flight",
        "webhooks",
        "sse_connections",
        "bank_share",
    }
    assert TenantLimits().requests_per_s == 50 and TenantLimits().burst == 100


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANT_DEFAULT_REQUESTS_PER_S", "7.5")
    monkeypatch.setenv("TENANT_DEFAULT_BURST", "15")
    limits = default_limits()
    assert (limits.requests_per_s, limits.burst) == (7.5, 15)
    assert limits.webhooks == TenantLimits().webhooks


def test_a_bad_default_fails_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANT_DEFAULT_BANK_SHARE", "1.5")
    with pytest.raises(ValidationError):
        default_limits()


@pytest.mark.parametrize(
    "bad",
    [
        {"requests_per_s": 0},
        {"burst": -1},
        {"bank_share": 0},
        {"bank_share": 1.01},
        {"concurrent_uploads": 1.5},
        {"webhooks": "many"},
        {"colour": 1},
    ],
)
def test_out_of_range_or_unknown_fields_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TenantLimits.model_validate(bad)


def test_limits_are_frozen() -> None:
    with pytest.raises(ValidationError):
        TenantLimits().burst = 3  # type: ignore[misc]


async def test_unlimited_upload_quotas_count_nothing() -> None:
    """At their maxima the upload quotas are not kept at all: no lease, no place, so a flood
    of one tenant's uploads writes nothing to its quota document."""
    from shared.tenants import MAX_CONCURRENT_UPLOADS, MAX_JOBS_IN_FLIGHT, TenantLimits
    from upload.quotas import UploadQuotas

    unlimited = TenantLimits(
        concurrent_uploads=MAX_CONCURRENT_UPLOADS, jobs_in_flight=MAX_JOBS_IN_FLIGHT
    )
    assert unlimited.uploads_unlimited and not TenantLimits().uploads_unlimited

    class Settings:
        async def limits(self, tenant: str) -> TenantLimits:
            return unlimited

    class Untouchable:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"the quota document was used: {name}")

    quotas = UploadQuotas(Untouchable(), Settings(), max_uploads=2, lease_s=60)  # type: ignore[arg-type]
    async with quotas.uploading("acme", "key-1", "cv_1") as slot:
        slot.keep_place()
        assert quotas.uploading_now == 1
    assert quotas.uploading_now == 0
