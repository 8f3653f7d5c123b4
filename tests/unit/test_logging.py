"""The log processors: trace ids of the current span, ids bound per job, secrets masked."""

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from shared.events import (
    BoletoSyncRequested,
    ChargeIssueRequested,
    ConversionOptions,
    ConversionRequested,
)
from shared.logging import (
    MASK,
    add_trace_context,
    bound_ids,
    configure_logging,
    event_ids,
    redact_secrets,
    scrub,
)
from shared.settings import InfraSettings

tracer = TracerProvider().get_tracer("tests")


def redacted(**fields: Any) -> dict[str, Any]:
    return redact_secrets(None, "info", dict(fields))


@pytest.fixture
def configured() -> Iterator[None]:
    """configure_logging changes process-wide state: structlog's, and the root logger's."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        structlog.configure(**saved)
        structlog.contextvars.clear_contextvars()
        root.handlers, root.level = handlers, level


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_line_inside_a_span_carries_its_ids_in_w3c_hex() -> None:
    with tracer.start_as_current_span("work") as span:
        fields = add_trace_context(None, "info", {"event": "x"})
    context = span.get_span_context()
    assert fields["trace_id"] == format(context.trace_id, "032x")
    assert fields["span_id"] == format(context.span_id, "016x")
    assert len(fields["trace_id"]) == 32 and len(fields["span_id"]) == 16
    assert add_trace_context(None, "info", {"event": "x"}) == {"event": "x"}


@pytest.mark.parametrize(
    "key",
    [
        "authorization",
        "Authorization",
        "api_key",
        "x-api-key",
        "secret",
        "webhook_secret",
        "client_secret",
        "password",
        "smtp_password",
        "token",
        "access_token",
        "cookie",
    ],
)
def test_values_of_secret_keys_are_masked_whatever_their_type(key: str) -> None:
    assert redacted(**{key: "hunter2"})[key] == MASK
    assert redacted(**{key: 123456})[key] == MASK
    assert redacted(**{key: {"nested": "x"}})[key] == MASK


def test_keys_that_only_look_like_secrets_keep_their_values() -> None:
    kept = {"password_key": "t/cv_1/password", "source_key": "t/cv_1/src", "tokens": 3}
    assert redacted(**kept) == kept
    assert redacted(password=None) == {"password": None}


def test_secret_keys_inside_mappings_and_lists_are_masked() -> None:
    fields = redacted(
        headers={"Authorization": "Bearer abc", "Accept": "application/json"},
        subscriptions=[{"url": "https://x", "secret": "whsec_1"}],
    )
    assert fields["headers"] == {"Authorization": MASK, "Accept": "application/json"}
    assert fields["subscriptions"] == [{"url": "https://x", "secret": MASK}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amqp://bob:s3cret@rabbit:5672/vh", f"amqp://bob:{MASK}@rabbit:5672/vh"),
        ("mongodb://u:p%40ss@db/x?tls=true", f"mongodb://u:{MASK}@db/x?tls=true"),
        ("failed: amqps://:only@h", f"failed: amqps://:{MASK}@h"),
        ("sent Bearer sk_live_0123456789", f"sent Bearer {MASK}"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: Basic {MASK}"),
        ("http://h/hook?token=abc&x=1", f"http://h/hook?token={MASK}&x=1"),
        ("POST /cb?client_secret=s&api_key=k", f"POST /cb?client_secret={MASK}&api_key={MASK}"),
    ],
)
def test_credentials_inside_text_are_masked(text: str, expected: str) -> None:
    assert scrub(text) == expected
    assert redacted(error=text)["error"] == expected


def test_text_without_credentials_is_left_as_it_is() -> None:
    for text in ("conversion.accepted", "http://h:80/x", "a basic problem", "user@example.com"):
        assert scrub(text) == text


def test_objects_are_logged_as_text_without_their_credentials() -> None:
    error = ConnectionError("cannot reach amqp://bob:s3cret@rabbit/")
    assert redacted(error=error)["error"] == f"cannot reach amqp://bob:{MASK}@rabbit/"


def test_a_consumed_event_names_its_job_and_its_subject() -> None:
    options = ConversionOptions(target="mspdi")
    requested = ConversionRequested(
        tenant_id="t",
        job_id="cv_1",
        source_key="k",
        source_sha256="0" * 64,
        source_size=1,
        filename="a.mpp",
        result_key="r",
        options=options,
    )
    assert event_ids(requested) == {"job_id": "cv_1"}
    sync = BoletoSyncRequested(tenant_id="t", boleto_id="bol_1", job_id="job_1")
    assert event_ids(sync) == {"job_id": "job_1", "boleto_id": "bol_1"}
    assert event_ids(ChargeIssueRequested(tenant_id="t", boleto_id="bol_1")) == {
        "job_id": None,
        "boleto_id": "bol_1",
    }


def test_json_lines_carry_trace_and_job_ids_and_no_secret(
    configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("svc", InfraSettings(log_format="json", log_level="DEBUG"))
    log = structlog.get_logger("tests")
    log.info("outside")
    with (
        tracer.start_as_current_span("request") as span,
        bound_ids(tenant_id="acme", job_id="cv_1", boleto_id=None),
    ):
        log.debug("inside", url="amqp://bob:s3cret@h/", password="s3cret")
        try:
            raise RuntimeError("cannot reach mongodb://bob:s3cret@db")
        except RuntimeError:
            log.exception("failed")
    log.info("after")
    outside, inside, failed, after = lines(capsys.readouterr().err)
    trace_id = format(span.get_span_context().trace_id, "032x")
    for line in (inside, failed):
        assert line["trace_id"] == trace_id and len(line["span_id"]) == 16
        assert line["tenant_id"] == "acme" and line["job_id"] == "cv_1"
        assert "boleto_id" not in line and line["service"] == "svc"
    for line in (outside, after):
        assert not {"trace_id", "span_id", "tenant_id", "job_id"} & line.keys()
    assert inside["url"] == f"amqp://bob:{MASK}@h/" and inside["password"] == MASK
    assert "RuntimeError" in failed["exception"] and "s3cret" not in failed["exception"]


def test_library_records_are_json_lines_through_the_same_processors(
    configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("svc", InfraSettings(log_format="json", log_level="DEBUG"))
    with tracer.start_as_current_span("message"):
        logging.getLogger("aio_pika").warning("lost amqp://bob:s3cret@h/ for %s", "a while")
        logging.getLogger("uvicorn.error").error("Exception in ASGI application")
    logging.getLogger("pymongo").info("below WARNING: not ours to read")
    driver, server = lines(capsys.readouterr().err)
    assert driver["event"] == f"lost amqp://bob:{MASK}@h/ for a while"
    assert driver["logger"] == "aio_pika" and driver["level"] == "warning"
    assert len(driver["trace_id"]) == 32 and server["logger"] == "uvicorn.error"


def test_the_console_renderer_still_renders(
    configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("svc", InfraSettings(log_format="console", log_level="INFO"))
    with tracer.start_as_current_span("request"):
        structlog.get_logger("tests").info("conversion.accepted", token="s3cret", job_id="cv_1")
    out = capsys.readouterr().err
    assert "conversion.accepted" in out and "cv_1" in out and "span_id" in out
    assert "s3cret" not in out and MASK in out
    assert not out.lstrip().startswith("{")
