"""Development keys are a development convenience: production settings refuse them."""

import pytest
from pydantic import ValidationError

from shared.settings import InfraSettings


@pytest.mark.parametrize("setting", ["dev_api_key", "dev_admin_key"])
def test_a_dev_key_is_refused_in_production(setting: str) -> None:
    with pytest.raises(ValidationError, match="refused when ENVIRONMENT=production"):
        InfraSettings(environment="production", **{setting: "k"})


def test_production_is_the_default_so_an_unset_environment_refuses_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.setenv("DEV_ADMIN_KEY", "k")
    with pytest.raises(ValidationError, match=r"python -m shared\.auth create"):
        InfraSettings()


@pytest.mark.parametrize("environment", ["development", "test"])
def test_dev_keys_are_honoured_outside_production(environment: str) -> None:
    settings = InfraSettings(environment=environment, dev_api_key="a", dev_admin_key="b")  # type: ignore[arg-type]
    assert (settings.dev_api_key, settings.dev_admin_key) == ("a", "b")
