"""The key command line refuses the tenants the admin API refuses, before it connects."""

import sys

import pytest

from shared.auth.__main__ import main
from shared.auth.endpoints import ApiKeyCreate

BAD = ["", "-acme", ".acme", "ac me", "acme/../x", "ac\nme", "é", "a" * 65, "$where"]


@pytest.mark.parametrize("tenant", BAD)
@pytest.mark.parametrize("command", ["create", "list"])
def test_the_command_line_refuses_a_bad_tenant(
    tenant: str, command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["python -m shared.auth", command, f"--tenant={tenant}"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "invalid tenant" in capsys.readouterr().err


@pytest.mark.parametrize("tenant", BAD)
def test_the_admin_api_refuses_the_same_tenants(tenant: str) -> None:
    with pytest.raises(ValueError, match="tenant"):
        ApiKeyCreate(tenant=tenant)


@pytest.mark.parametrize("tenant", ["acme", "Acme_2", "a.b-c", "a" * 64])
def test_both_accept_a_good_tenant(tenant: str) -> None:
    assert ApiKeyCreate(tenant=tenant).tenant == tenant
