"""Trace context through RabbitMQ: the publish span continues the context an event was encoded
in (not the relay's), the consumer's span continues the publish, and a handler's failures are
recorded on its spans. This process's spans go over OTLP/HTTP to a real receiver."""

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from shared.bootstrap import Infra
from shared.events import ConversionStarted
from shared.messaging import Delivery, Envelope, Subscription, encode, outbox_entry
from shared.telemetry import tracer
from tests.support.otlp import OtlpReceiver, Span, otlp_receiver


class _WhileOpen(SimpleSpanProcessor):
    """Exports until the module's tests are done; the session's later spans stay home."""

    open = True

    def on_end(self, span: ReadableSpan) -> None:
        if self.open:
            super().on_end(span)


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpReceiver]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    with otlp_receiver() as running:
        processor = _WhileOpen(OTLPSpanExporter(endpoint=f"{running.endpoint}/v1/traces"))
        provider.add_span_processor(processor)
        yield running
        processor.open = False


def _queue() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def _named(spans: list[Span], name: str) -> list[Span]:
    return [span for span in spans if span.name == name]


async def test_an_outbox_entry_is_published_in_the_trace_it_was_written_in(
    infra: Infra, collector: OtlpReceiver
) -> None:
    queue, handled = _queue(), asyncio.Event()

    async def handle(event: ConversionStarted, delivery: Delivery) -> None:
        handled.set()

    sub = Subscription(infra.broker, queue, {ConversionStarted: handle})
    await sub.start()
    with tracer.start_as_current_span("request") as request:
        entry = outbox_entry(encode(ConversionStarted(tenant_id="t", job_id="j1"), "/test"))
    with tracer.start_as_current_span("sweep"):  # the relay, later, in a context of its own
        await infra.broker.publish(Envelope.from_document(entry))
    await asyncio.wait_for(handled.wait(), 10)
    await sub.stop()

    trace_id = format(request.get_span_context().trace_id, "032x")
    collector.wait_for(
        lambda spans: any(s.name == "process conversion.started.v1" for s in spans),
        10,
        "the consumer's span",
    )
    spans = collector.trace(trace_id)
    [publish] = _named(spans, "publish conversion.started.v1")
    [process] = _named(spans, "process conversion.started.v1")
    assert publish.parent_id == format(request.get_span_context().span_id, "016x")
    assert publish.kind == "producer" and process.kind == "consumer"
    assert process.parent_id == publish.span_id
    assert process.attributes["messaging.destination.name"] == queue
    assert process.attributes["messaging.message.id"] == entry["id"]
    assert publish.attributes["messaging.rabbitmq.destination.routing_key"] == (
        "conversion.started.v1"
    )
    assert not process.error


async def test_a_failing_handler_marks_its_spans_through_the_retry_and_the_dead_letter(
    infra: Infra, collector: OtlpReceiver
) -> None:
    queue, dead = _queue(), asyncio.Event()

    async def broken(event: ConversionStarted, delivery: Delivery) -> None:
        raise RuntimeError("always")

    async def on_dead(event: ConversionStarted, reason: str) -> None:  # type: ignore[override]
        dead.set()

    sub = Subscription(
        infra.broker,
        queue,
        {ConversionStarted: broken},
        max_attempts=2,
        base_delay_ms=100,
        on_dead=on_dead,
    )  # type: ignore[arg-type]
    await sub.start()
    with tracer.start_as_current_span("request") as request:
        await infra.broker.publish(encode(ConversionStarted(tenant_id="t", job_id="j2"), "/t"))
    await asyncio.wait_for(dead.wait(), 15)
    await sub.stop()

    trace_id = format(request.get_span_context().trace_id, "032x")
    collector.wait_for(
        lambda spans: (
            len([s for s in spans if s.trace_id == trace_id and s.name.startswith("process")]) == 2
        ),
        10,
        "both attempts' spans",
    )
    spans = collector.trace(trace_id)
    [publish] = _named(spans, "publish conversion.started.v1")
    attempts = sorted(
        _named(spans, "process conversion.started.v1"),
        key=lambda s: s.attributes["delivery.attempt"],
    )
    assert [(s.attributes["delivery.attempt"], s.attributes["outcome"]) for s in attempts] == [
        (1, "retry"),
        (2, "dead_letter"),
    ]
    for attempt in attempts:
        assert attempt.error and "exception" in attempt.events
        assert attempt.parent_id == publish.span_id  # the retry copy keeps the trace headers
