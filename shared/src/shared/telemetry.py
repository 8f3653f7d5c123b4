"""OpenTelemetry: W3C trace context across HTTP -> broker -> worker, bound into the logs."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

tracer = trace.get_tracer("schedule-platform")


def configure_telemetry(service: str) -> None:
    """A real tracer provider, so spans get ids that travel; exporters are opt-in via OTEL_*."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(
            TracerProvider(resource=Resource.create({"service.name": service}))
        )


def inject_trace(headers: dict[str, Any]) -> dict[str, Any]:
    propagate.inject(headers)
    return headers


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


@contextmanager
def consume_span(
    headers: dict[str, Any], routing_key: str, event_id: str, tenant: str
) -> Iterator[None]:
    carrier = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items()}
    ctx = propagate.extract(carrier)
    with (
        tracer.start_as_current_span(
            f"consume {routing_key}", context=ctx, kind=trace.SpanKind.CONSUMER
        ),
        structlog.contextvars.bound_contextvars(
            event_id=event_id, tenant_id=tenant, trace_id=current_trace_id()
        ),
    ):
        yield
