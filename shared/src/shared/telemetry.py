"""OpenTelemetry: W3C trace context across HTTP -> broker -> worker, exported over OTLP/HTTP.

Every process has a real tracer provider, so spans get ids that travel in headers and show in
the logs. Spans leave the process only when an OTLP endpoint is configured
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); sampling, the
batch processor's timing and resource attributes come from the standard ``OTEL_*`` variables,
read by the SDK itself.
"""

import os
import socket
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from pymongo import monitoring

tracer = trace.get_tracer("schedule-platform")

ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
HTTP_PROTOBUF = "http/protobuf"
CLIENT_SPAN = "schedule.client_span"  # the httpx request extension naming a client span
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

_exporting = False


def configure_telemetry(service: str) -> None:
    """The process's tracer provider, named ``service`` unless ``OTEL_SERVICE_NAME`` says
    otherwise, and httpx client spans (which carry ``traceparent`` to the bank and to webhook
    receivers); with an OTLP endpoint, a batch exporter, and database spans (``mongo.py``).
    Once per process: a uvicorn worker process configures its own after it starts."""
    global _exporting
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    export = exporting_configured()
    if export:
        _check_protocol()
    provider = TracerProvider(resource=_resource(service))
    if export:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _instrument_httpx()
    _exporting = export


def untraced(scope: MutableMapping[str, Any]) -> bool:
    """Probes and scrapes (``/healthz``, ``/readyz``, ``/metrics``) make no spans: every few
    seconds from every probe, they would bury the traces of real work."""
    return scope.get("path") in OPS_PATHS


def exporting_configured() -> bool:
    return any(os.environ.get(name) for name in ENDPOINTS)


def shutdown_telemetry() -> None:
    """Send the spans still batched; at the end of a process (idempotent)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis=5000)


def _check_protocol() -> None:
    """Only OTLP over HTTP with protobuf: the gRPC exporter would bring grpcio along."""
    for name in PROTOCOLS:
        protocol = os.environ.get(name, "").strip()
        if protocol and protocol != HTTP_PROTOBUF:
            raise SystemExit(
                f"{name}={protocol} is not supported: spans are exported over OTLP/HTTP only "
                f"({HTTP_PROTOBUF}); point the endpoint at the collector's HTTP port (4318)"
            )


def _resource(service: str) -> Resource:
    """OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME as the SDK reads them, our name when no
    OTEL_SERVICE_NAME is set, and one instance id per process (uvicorn runs several)."""
    own: dict[str, Any] = {SERVICE_INSTANCE_ID: f"{socket.gethostname()}:{os.getpid()}"}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        own[SERVICE_NAME] = service
    return Resource.create(own)


def _instrument_httpx() -> None:
    """Client spans for the processes that call out with httpx (boleto-sync to the bank, the
    notifier to webhook receivers), which have imported it by the time their telemetry is
    configured (their clients' modules import it at start). Elsewhere httpx is not loaded
    for nothing: where its command-line interface's packages are installed (the development
    environment) its import brings them along, 7 MB of every API process."""
    if "httpx" not in sys.modules:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(async_request_hook=_client_request)


async def _client_request(span: Span, request: Any) -> None:
    """A request made with ``client_span(...)`` extensions names its span by the operation
    (``inter issue``) rather than by the bare method. No URL keeps its query: a subscriber's
    webhook URL may carry a token there, and spans are not the place for it."""
    if not span.is_recording():
        return
    if named := (request.extensions or {}).get(CLIENT_SPAN):
        name, attributes = named
        span.update_name(name)
        span.set_attributes(attributes)
    recorded = getattr(span, "attributes", None) or {}
    for key in ("http.url", "url.full"):
        if isinstance(url := recorded.get(key), str) and "?" in url:
            span.set_attribute(key, url.split("?", 1)[0])


def database_listeners() -> list[monitoring.CommandListener]:
    """PyMongo command spans (the instrumentation package's listener) for a client about to be
    created, when spans are exported: per command they cost more than a cached read does.
    Only commands made inside a trace get one: an outbox sweep or a session cleanup every few
    seconds would otherwise start a trace of its own each time."""
    if not _exporting:
        return []
    from opentelemetry.instrumentation.pymongo import CommandTracer

    return [_InTraceOnly(CommandTracer(trace.get_tracer("opentelemetry.instrumentation.pymongo")))]


class _InTraceOnly(monitoring.CommandListener):
    def __init__(self, inner: monitoring.CommandListener) -> None:
        self.inner = inner

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if trace.get_current_span().get_span_context().is_valid:
            self.inner.started(event)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.inner.succeeded(event)  # a command it did not start has no span to end

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.inner.failed(event)


def client_span(name: str, attributes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """httpx request ``extensions`` that name the request's client span (when it is traced)."""
    return {CLIENT_SPAN: (name, dict(attributes or {}))}


def inject_trace(headers: dict[str, Any]) -> dict[str, Any]:
    propagate.inject(headers)
    return headers


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def _carrier(headers: Mapping[str, Any]) -> dict[str, str]:
    return {
        k: (v.decode() if isinstance(v, bytes) else str(v))
        for k, v in headers.items()
        if k in ("traceparent", "tracestate")
    }


@contextmanager
def publish_span(
    headers: Mapping[str, Any], exchange: str, routing_key: str, message_id: str
) -> Iterator[dict[str, str]]:
    """The PRODUCER span of one publish, a child of the context stored with the event when it
    was encoded (a relay may publish it much later, from another task or process); yields the
    trace headers that carry this span to the consumers."""
    stored = _carrier(headers)
    parent = propagate.extract(stored) if stored else None
    with tracer.start_as_current_span(
        f"publish {routing_key}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={
            **_messaging("publish", "send", routing_key, message_id),
            "messaging.destination.name": exchange,
        },
    ):
        yield inject_trace({})


@contextmanager
def consume_span(
    headers: Mapping[str, Any],
    queue: str,
    routing_key: str,
    event_id: str,
    tenant: str,
    attempt: int = 1,
) -> Iterator[Span]:
    """The CONSUMER span of one delivery, continuing the publisher's trace."""
    ctx = propagate.extract(_carrier(headers))
    with (
        tracer.start_as_current_span(
            f"process {routing_key}",
            context=ctx,
            kind=SpanKind.CONSUMER,
            attributes={
                **_messaging("process", "process", routing_key, event_id),
                "messaging.destination.name": queue,
                "delivery.attempt": attempt,
            },
            record_exception=True,
        ) as span,
        # the span's own ids reach every log line through shared.logging
        structlog.contextvars.bound_contextvars(event_id=event_id, tenant_id=tenant),
    ):
        yield span


def _messaging(operation: str, kind: str, routing_key: str, message_id: str) -> dict[str, str]:
    return {
        "messaging.system": "rabbitmq",
        "messaging.operation.name": operation,
        "messaging.operation.type": kind,
        "messaging.rabbitmq.destination.routing_key": routing_key,
        "messaging.message.id": message_id,
    }


def record_failure(exc: BaseException, outcome: str) -> None:
    """Mark the current span failed by ``exc`` (caught, so the span would not see it), with
    what became of the work: ``retry``, ``dead_letter``, ``held``."""
    span = trace.get_current_span()
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:300]))
    span.set_attribute("outcome", outcome)


@contextmanager
def continued(stored: Mapping[str, Any] | None) -> Iterator[None]:
    """Run the body in the trace whose headers (``inject_trace``) were stored with the work
    (a delivery sent later, maybe by another process); as it is when nothing was stored."""
    carrier = _carrier(stored or {})
    if not carrier:
        yield
        return
    token = context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        context.detach(token)
