"""The configuration reference is generated from the settings classes and kept in the docs."""

import textwrap
import uuid
from pathlib import Path

import config_reference as ref
import pytest
from pydantic import Field

from upload.settings import UploadSettings

DOC = ref.ROOT / "docs" / "deployment.md"


@pytest.fixture(scope="module")
def by_service() -> dict[str, dict[str, ref.Setting]]:
    return {
        service: {s.env: s for s in settings}
        for service, settings in ref.settings_by_service().items()
    }


def test_the_deployment_doc_has_the_current_reference() -> None:
    assert ref.main(["--check", str(DOC)]) == 0, (
        "docs/deployment.md is stale: run python scripts/config_reference.py --write "
        "docs/deployment.md"
    )


def test_check_fails_on_a_stale_section_and_write_fixes_it(tmp_path: Path) -> None:
    doc = tmp_path / "deployment.md"
    doc.write_text(f"# Title\n\n{ref.START}\n| old |\n{ref.END}\n\nAfter.\n", encoding="utf-8")
    assert ref.main(["--check", str(doc)]) == 1
    assert ref.main(["--write", str(doc)]) == 0
    assert ref.main(["--check", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Title\n") and text.endswith(f"{ref.END}\n\nAfter.\n")


def test_every_settings_class_is_read_by_a_service() -> None:
    roots = ref.source_roots()
    classes = ref.find_settings_classes(roots)
    names = {ref.qualified(c) for c in classes}
    assert {"shared.settings.InfraSettings", "upload.settings.UploadSettings"} <= names
    leaves = ref.leaves(classes)
    readers = ref.callers([c.__name__ for c in leaves], roots)
    unread = [ref.qualified(c) for c in leaves if not readers[c.__name__]]
    assert unread == [], f"settings classes no service constructs: {unread}"
    for base in set(classes) - set(leaves):  # WorkerSettings, ServiceSettings
        assert any(issubclass(leaf, base) for leaf in leaves)


def test_each_service_reads_its_own_and_the_shared_settings(
    by_service: dict[str, dict[str, ref.Setting]],
) -> None:
    assert set(by_service) == {"upload", "converter", "boleto-sync", "notifier"}
    own = {"upload": "UPLOAD_", "converter": "CONVERTER_", "boleto-sync": "BOLETO_"}
    own["notifier"] = "NOTIFIER_"
    for service, settings in by_service.items():
        for shared in ("MONGODB_URL", "RABBITMQ_URL", "SECRETS_KEY", "TENANT_DEFAULT_BURST"):
            assert shared in settings, (service, shared)
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in settings
        foreign = [e for e in settings if e.startswith(tuple(set(own.values()) - {own[service]}))]
        assert foreign == [], service
        assert list(settings) == sorted(settings)
    assert "PROMETHEUS_MULTIPROC_DIR" not in by_service["converter"]  # no API: one process
    assert "PROMETHEUS_MULTIPROC_DIR" in by_service["upload"]


def test_known_variables_have_their_defaults_and_secret_flags(
    by_service: dict[str, dict[str, ref.Setting]],
) -> None:
    upload, boleto = by_service["upload"], by_service["boleto-sync"]
    notifier, converter = by_service["notifier"], by_service["converter"]
    assert upload["MONGODB_URL"].secret and upload["MONGODB_URL"].owner.endswith("InfraSettings")
    assert upload["SECRETS_KEY"].secret and upload["SECRETS_KEY"].default == ref.UNSET
    assert upload["RABBITMQ_URL"].secret and upload["S3_SECRET_KEY"].secret
    port = upload["UPLOAD_PORT"]
    assert (port.default, port.secret, port.owner) == (
        "8000",
        False,
        "upload.settings.UploadSettings",
    )
    assert upload["UPLOAD_MAX_UPLOAD_BYTES"].default == str(100 * 1024 * 1024)
    assert upload["UPLOAD_HOST"].default == "127.0.0.1"  # inherited from WorkerSettings
    assert upload["MONGODB_JOURNAL"].default == "true"
    assert converter["CONVERTER_PREFETCH"].default == "0"
    assert converter["CONVERTER_WORKERS"].default == ref.UNSET  # the machine's CPUs
    assert boleto["BOLETO_INTER_CLIENT_SECRET"].secret
    assert boleto["BOLETO_WEBHOOK_TOKEN"].secret
    assert not boleto["BOLETO_LIMIT_TOKEN"].secret  # a request rate, not a token
    assert notifier["NOTIFIER_ALLOWED_PORTS"].default == "443,80,8443"
    assert notifier["NOTIFIER_SMTP_PASSWORD"].secret
    assert notifier["TENANT_DEFAULT_REQUESTS_PER_S"].default == "50.0"


def test_descriptions_come_from_the_field_or_the_comment_above(
    by_service: dict[str, dict[str, ref.Setting]],
) -> None:
    notifier = by_service["notifier"]
    assert notifier["NOTIFIER_SMTP_CA_FILE"].description.startswith("CA bundle")
    assert "journal" in by_service["upload"]["MONGODB_JOURNAL"].description
    # a field named in the text is spelled as its variable
    assert "NOTIFIER_SMTP_TLS" in notifier["NOTIFIER_SMTP_TLS"].description


def test_a_field_added_to_a_settings_class_appears() -> None:
    class Extended(UploadSettings):
        # how long a thing waits
        extra_wait_s: float = 1.5
        api_token: str = Field(default="t")
        renamed: int = Field(default=3, validation_alias="SOMETHING_ELSE")

    found = {s.env: s for s in ref.settings_of(Extended)}
    assert found["UPLOAD_EXTRA_WAIT_S"].default == "1.5"
    assert found["UPLOAD_EXTRA_WAIT_S"].description == "How long a thing waits"
    assert found["UPLOAD_API_TOKEN"].secret
    assert found["SOMETHING_ELSE"].default == "3"
    assert "UPLOAD_PORT" in found


def test_a_settings_class_in_a_new_module_is_found_and_assigned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = f"cfgref_{uuid.uuid4().hex}"
    src = tmp_path / "shared" / "src"
    (src / package).mkdir(parents=True)
    (src / package / "__init__.py").write_text("", encoding="utf-8")
    (src / package / "settings.py").write_text(
        textwrap.dedent(
            """
            from pydantic_settings import BaseSettings, SettingsConfigDict

            class ExtraSettings(BaseSettings):
                model_config = SettingsConfigDict(env_prefix="EXTRA_")

                # where the extra thing lives
                url: str = "x"
                password: str | None = None
            """
        ),
        encoding="utf-8",
    )
    (src / package / "main.py").write_text(
        f"from {package}.settings import ExtraSettings\n\nsettings = ExtraSettings()\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(src))
    found = ref.settings_by_service(tmp_path)
    for service in ref.SERVICES:  # constructed in the shared code: read by every service
        names = {s.env: s for s in found[service]}
        assert names["EXTRA_URL"].description == "Where the extra thing lives"
        assert names["EXTRA_PASSWORD"].secret and names["EXTRA_PASSWORD"].default == ref.UNSET


def test_every_setting_says_what_it_does(by_service: dict[str, dict[str, ref.Setting]]) -> None:
    undescribed = [
        e for settings in by_service.values() for e, s in settings.items() if not s.description
    ]
    assert undescribed == []
    classes = ref.find_settings_classes(ref.source_roots())
    fields = {f"{c.__name__}.{name}" for c in classes for name in c.model_fields}
    stale = sorted(set(ref.DESCRIPTIONS) - fields)
    assert stale == [], f"descriptions of fields that are gone: {stale}"


def test_the_shared_settings_are_listed_once() -> None:
    text = ref.markdown()
    assert text.count("| `MONGODB_URL` |") == 1
    assert text.count("| `UPLOAD_PORT` | `8000` |  |") == 1
    assert text.index("### Every service") < text.index("### upload")


def test_the_keys_left_out_of_production_secrets_are_refused_there() -> None:
    from shared.settings import InfraSettings

    for env in ref.REFUSED_IN_PRODUCTION:
        field = env.lower()
        with pytest.raises(ValueError, match=env):
            InfraSettings(environment="production", **{field: "k" * 32})
    assert "| boleto-sync | `BOLETO_INTER_CLIENT_SECRET`" in ref.markdown()


def test_the_variables_read_outside_settings_classes_have_the_readers_defaults(
    by_service: dict[str, dict[str, ref.Setting]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from shared.tenants import TenantLimits

    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    trusted = uvicorn.Config(app="upload.app:create_app").forwarded_allow_ips
    assert by_service["upload"]["FORWARDED_ALLOW_IPS"].default == trusted
    assert "FORWARDED_ALLOW_IPS" not in by_service["converter"]  # no HTTP API
    burst = by_service["converter"]["TENANT_DEFAULT_BURST"]
    assert burst.default == str(TenantLimits().burst)
