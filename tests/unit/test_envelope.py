"""CloudEvents binary mode: decode reads back what encode wrote; anything else is MalformedEvent."""

import json
from datetime import UTC, date, datetime

import pytest

from shared.events import (
    BoletoSynced,
    BoletoSyncFailed,
    BoletoSyncRequested,
    ChargeCancelled,
    ChargeFailed,
    ChargeIssued,
    ChargeIssueRequested,
    ChargePaid,
    ConversionCompleted,
    ConversionDeleted,
    ConversionFailed,
    ConversionOptions,
    ConversionRequested,
    ConversionStarted,
    Event,
    Manifest,
    PaymentPending,
    PaymentRequested,
    WebhookEndpointDisabled,
)
from shared.messaging.envelope import Envelope, MalformedEvent, Received, decode, encode

SOURCE = "/services/test"
SECRET = "hunter2-secret"

SAMPLES: list[Event] = [
    ConversionRequested(
        tenant_id="tenant-a",
        job_id="job-1",
        source_key="tenant-a/job-1/source",
        source_sha256="0" * 64,
        source_size=1024,
        filename="plan.mpp",
        options=ConversionOptions(target="xer"),
        result_key="tenant-a/job-1/r.xer",
        password_key="tenant-a/job-1/password-1",
    ),
    ConversionStarted(tenant_id="tenant-a", job_id="job-1"),
    ConversionCompleted(
        tenant_id="tenant-a",
        job_id="job-1",
        result_key="tenant-a/job-1/r.xer",
        size=2048,
        sha256="f" * 64,
        media_type="application/xml",
        manifest=Manifest(source_format="mpp", read={"tasks": 3}, written={"tasks": 3}),
    ),
    ConversionFailed(tenant_id="tenant-a", job_id="job-1", code="password_protected", message="m"),
    ConversionDeleted(tenant_id="tenant-a", job_id="job-1"),
    ChargeIssueRequested(tenant_id="tenant-a", boleto_id="bol-1"),
    ChargeIssued(
        tenant_id="tenant-a",
        boleto_id="bol-1",
        codigo_solicitacao="c-1",
        situacao="EM_PROCESSAMENTO",
    ),
    BoletoSyncRequested(tenant_id="tenant-a", boleto_id="bol-1", job_id="job-2"),
    BoletoSynced(
        tenant_id="tenant-a",
        boleto_id="bol-1",
        job_id="job-2",
        pdf_version=1,
        sha256="a" * 64,
        size=900,
    ),
    WebhookEndpointDisabled(
        tenant_id="tenant-a",
        webhook_id="wh-1",
        url="https://x.test/h",
        failures=20,
        reason="HTTP 500",
    ),
    BoletoSyncFailed(
        tenant_id="tenant-a", boleto_id="bol-1", job_id="job-2", code="sync_failed", message="m"
    ),
    PaymentRequested(
        tenant_id="tenant-a",
        job_id="job-1",
        attempt=2,
        amount_cents=990,
        due_date=date(2026, 12, 3),
        payer={"cpfCnpj": "52998224725", "tipoPessoa": "FISICA", "nome": "Maria"},
    ),
    PaymentPending(
        tenant_id="tenant-a",
        job_id="job-1",
        boleto_id="bol-1",
        charge_id="c-1",
        amount_cents=990,
        due_date=date(2026, 12, 3),
        pix_copia_e_cola="00020101021226",
        linha_digitavel="07790001",
        pdf_key="tenant-a/boletos/bol-1/v1-abc.pdf",
    ),
    ChargePaid(
        tenant_id="tenant-a",
        boleto_id="bol-1",
        job_id="job-1",
        charge_id="c-1",
        situacao="RECEBIDO",
        paid_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    ),
    ChargeCancelled(tenant_id="tenant-a", boleto_id="bol-1", charge_id="c-1", situacao="EXPIRADO"),
    ChargeFailed(
        tenant_id="tenant-a", boleto_id="bol-1", job_id="job-1", code="inter_rejected", message="m"
    ),
]


@pytest.fixture
def envelope() -> Envelope:
    return encode(ConversionFailed(tenant_id="t", job_id="j", code="timeout", message="m"), SOURCE)


def decode_with(envelope: Envelope, **changes: str | bytes | None) -> Received:
    """Decode ``envelope`` with headers set (or removed, when None)."""
    headers = {k: v for k, v in {**envelope.headers, **changes}.items() if v is not None}
    return decode(headers, envelope.content_type, envelope.body)


def test_samples_cover_every_registered_event() -> None:
    assert {type(event) for event in SAMPLES} == set(Event.registry.values())


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.routing_key())
def test_round_trip_keeps_id_type_subject_tenant_and_model(event: Event) -> None:
    envelope = encode(event, SOURCE)

    received = decode(envelope.headers, envelope.content_type, envelope.body)
    event_id, decoded = received.id, received.event

    assert decoded == event and type(decoded) is type(event)
    assert event_id == envelope.id == envelope.headers["ce-id"]
    assert envelope.routing_key == envelope.headers["ce-type"] == event.routing_key()
    assert envelope.headers["ce-subject"] == event.subject()
    assert envelope.headers["ce-tenantid"] == event.tenant_id
    assert envelope.headers["ce-source"] == received.source == SOURCE
    assert received.time.isoformat() == envelope.headers["ce-time"].replace("Z", "+00:00")
    assert envelope.headers["ce-specversion"] == "1.0"
    assert envelope.content_type == "application/json"
    assert json.loads(envelope.body) == event.model_dump(mode="json")


def test_a_given_event_id_is_kept(envelope: Envelope) -> None:
    again = encode(ConversionStarted(tenant_id="t", job_id="j"), SOURCE, event_id="evt-42")
    assert again.id == again.headers["ce-id"] == "evt-42"
    assert decode(again.headers, again.content_type, again.body).id == "evt-42"


def test_each_encoding_gets_a_new_id() -> None:
    event = ConversionStarted(tenant_id="t", job_id="j")
    assert encode(event, SOURCE).id != encode(event, SOURCE).id


def test_an_outbox_document_decodes_to_the_same_event(envelope: Envelope) -> None:
    stored = Envelope.from_document(envelope.to_document())
    assert decode(stored.headers, stored.content_type, stored.body) == decode(
        envelope.headers, envelope.content_type, envelope.body
    )


def test_bytes_valued_headers_are_accepted(envelope: Envelope) -> None:
    # aio-pika hands AMQP long strings over as bytes
    headers = {k: v.encode() for k, v in envelope.headers.items()}
    assert decode(headers, envelope.content_type, envelope.body).id == envelope.id


def test_other_headers_of_any_type_are_ignored(envelope: Envelope) -> None:
    headers = {
        **envelope.headers,
        "x-attempt": 3,
        "x-death": [{"count": 1}],
        "traceparent": b"00-x",
    }
    assert decode(headers, envelope.content_type, envelope.body).id == envelope.id


def test_unknown_type_is_malformed(envelope: Envelope) -> None:
    with pytest.raises(MalformedEvent, match=r"conversion\.exploded\.v1"):
        decode_with(envelope, **{"ce-type": "conversion.exploded.v1"})


@pytest.mark.parametrize(
    "header",
    [
        "ce-type",
        "ce-source",
        "ce-id",
        "ce-specversion",
    ],
)
def test_a_missing_required_attribute_is_malformed(envelope: Envelope, header: str) -> None:
    with pytest.raises(MalformedEvent):
        decode_with(envelope, **{header: None})


@pytest.mark.parametrize(
    "version",
    [
        "2.0",
        "0.3",
    ],
)
def test_a_specversion_other_than_1_0_is_malformed(envelope: Envelope, version: str) -> None:
    with pytest.raises(MalformedEvent):
        decode_with(envelope, **{"ce-specversion": version})


@pytest.mark.parametrize("body", [b"not json", b"", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_malformed(envelope: Envelope, body: bytes) -> None:
    with pytest.raises(MalformedEvent):
        decode(envelope.headers, envelope.content_type, body)


@pytest.mark.parametrize(
    "data",
    [
        {"tenant_id": "t"},
        {"tenant_id": "t", "job_id": "j", "code": "exploded", "message": "m"},
    ],
)
def test_a_body_failing_validation_is_malformed(envelope: Envelope, data: dict[str, str]) -> None:
    with pytest.raises(MalformedEvent):
        decode(envelope.headers, envelope.content_type, json.dumps(data).encode())


def test_an_unparsable_time_is_malformed(envelope: Envelope) -> None:
    with pytest.raises(MalformedEvent):
        decode_with(envelope, **{"ce-time": "yesterday"})


def test_a_header_that_is_not_utf8_is_malformed_not_a_crash(envelope: Envelope) -> None:
    with pytest.raises(MalformedEvent):
        decode(
            {**envelope.headers, "ce-subject": b"\xff\xfe"}, envelope.content_type, envelope.body
        )


def test_a_binary_header_outside_cloudevents_is_ignored(envelope: Envelope) -> None:
    headers = {**envelope.headers, "x-signature": b"\xff\xfe"}
    assert decode(headers, envelope.content_type, envelope.body).id == envelope.id


def test_a_request_carries_a_reference_to_the_password_never_the_password() -> None:
    fields = SAMPLES[0].model_dump()
    # handed the password anyway, as a careless caller might, at the top and in the options
    requested = ConversionRequested.model_validate(
        {**fields, "password": SECRET, "options": {**fields["options"], "password": SECRET}}
    )
    envelope = encode(requested, SOURCE)
    assert json.loads(envelope.body)["password_key"] == "tenant-a/job-1/password-1"
    assert SECRET not in envelope.body.decode()
    assert not any(SECRET in str(value) for value in envelope.headers.values())


def test_a_password_smuggled_into_a_request_body_is_dropped_on_decoding() -> None:
    envelope = encode(SAMPLES[0], SOURCE)
    body = json.loads(envelope.body)
    body["password"] = body["options"]["password"] = SECRET
    received = decode(envelope.headers, envelope.content_type, json.dumps(body).encode())
    assert SECRET not in received.event.model_dump_json()


def test_a_tenant_header_contradicting_the_body_is_malformed(envelope: Envelope) -> None:
    with pytest.raises(MalformedEvent, match="tenant"):
        decode_with(envelope, **{"ce-tenantid": "someone-else"})
