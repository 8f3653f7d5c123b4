"""The event contract: keys derive from the models, which are frozen and tolerant readers."""

import inspect
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from shared.events import (
    ConversionCompleted,
    ConversionFailed,
    ConversionOptions,
    ConversionRequested,
    Event,
    Manifest,
)

REQUESTED: dict[str, Any] = {
    "tenant_id": "tenant-a",
    "job_id": "job-1",
    "source_key": "tenant-a/job-1/source",
    "source_sha256": "0" * 64,
    "source_size": 1024,
    "filename": "plan.mpp",
    "options": {"target": "xer", "timephased": True},
    "result_key": "tenant-a/job-1/result.xer",
}


def defined_events() -> set[type[Event]]:
    return {
        obj
        for _, obj in inspect.getmembers(sys.modules[Event.__module__], inspect.isclass)
        if issubclass(obj, Event) and obj is not Event
    }


def test_the_registry_holds_every_event_defined_in_shared() -> None:
    assert set(Event.registry.values()) == defined_events()
    assert set(Event.registry) == {
        "conversion.requested.v1",
        "conversion.started.v1",
        "conversion.completed.v1",
        "conversion.failed.v1",
        "conversion.deleted.v1",
        "charge.issue.requested.v1",
        "charge.issued.v1",
        "boleto.sync.requested.v1",
        "boleto.synced.v1",
        "boleto.sync.failed.v1",
        "webhook.endpoint.disabled.v1",
        "payment.requested.v1",
        "payment.pending.v1",
        "charge.paid.v1",
        "charge.cancelled.v1",
        "charge.failed.v1",
    }


@pytest.mark.parametrize("key", sorted(Event.registry))
def test_routing_key_derives_from_name_and_version(key: str) -> None:
    model = Event.registry[key]
    assert key == model.routing_key() == f"{model.name}.v{model.version}"


def test_a_new_version_registers_under_its_own_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Event, "registry", dict(Event.registry))

    class ConversionFailedV2(ConversionFailed):
        name = "conversion.failed"
        version = 2

    assert Event.registry["conversion.failed.v2"] is ConversionFailedV2
    assert Event.registry["conversion.failed.v1"] is ConversionFailed


@pytest.mark.parametrize("model", [*Event.registry.values(), ConversionOptions, Manifest])
def test_every_model_is_frozen(model: type[Event]) -> None:
    assert model.model_config.get("frozen") is True


def test_an_event_cannot_be_changed_after_creation() -> None:
    event = ConversionRequested.model_validate(REQUESTED)
    with pytest.raises(ValidationError):
        event.job_id = "job-2"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        event.options.target = "mpx"  # type: ignore[misc]


def test_unknown_fields_are_ignored_so_old_readers_accept_newer_events() -> None:
    payload = {**REQUESTED, "priority": "high", "options": {**REQUESTED["options"], "dpi": 300}}
    event = ConversionRequested.model_validate(payload)
    assert event == ConversionRequested.model_validate(REQUESTED)
    assert "priority" not in event.model_dump()
    assert "dpi" not in event.options.model_dump()


def test_an_unknown_target_format_is_refused() -> None:
    with pytest.raises(ValidationError, match="target"):
        ConversionOptions(target="pdf")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="target"):
        ConversionRequested.model_validate({**REQUESTED, "options": {"target": "pdf"}})


def test_an_unknown_error_code_is_refused() -> None:
    with pytest.raises(ValidationError, match="code"):
        ConversionFailed(tenant_id="t", job_id="j", code="oops", message="m")  # type: ignore[arg-type]


def test_options_default_to_mspdi_without_timephased_data() -> None:
    assert ConversionOptions() == ConversionOptions(target="mspdi", timephased=False)


# a conversion's payment is about its job, though its charge has a boleto
JOB_EVENTS = sorted(
    k for k, m in Event.registry.items() if k.startswith(("conversion.", "payment."))
)
BOLETO_EVENTS = sorted(
    k
    for k in Event.registry
    if "boleto_id" in Event.registry[k].model_fields and k not in JOB_EVENTS
)


@pytest.mark.parametrize("key", JOB_EVENTS)
def test_events_about_a_job_use_its_id_as_subject(key: str) -> None:
    event = Event.registry[key].model_construct(tenant_id="t", job_id="job-9")
    assert event.subject() == "job-9"


@pytest.mark.parametrize("key", BOLETO_EVENTS)
def test_events_about_a_boleto_use_its_id_as_subject(key: str) -> None:
    event = Event.registry[key].model_construct(tenant_id="t", boleto_id="bol-9", job_id="job-9")
    assert event.subject() == "bol-9"


def test_every_event_carries_its_tenant() -> None:
    for model in Event.registry.values():
        assert model.model_fields["tenant_id"].is_required()
    with pytest.raises(ValidationError, match="tenant_id"):
        ConversionCompleted.model_validate({"job_id": "j"})
