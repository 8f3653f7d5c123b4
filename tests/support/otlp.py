"""A real OTLP/HTTP trace receiver for tests: what a collector's HTTP port would get.

It accepts ``POST /v1/traces`` (protobuf ``ExportTraceServiceRequest``, plain or gzip) on a
free port, answers as a collector does, and keeps every span with the ``service.name`` of the
resource that sent it.
"""

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

KINDS = {
    SpanProto.SPAN_KIND_INTERNAL: "internal",
    SpanProto.SPAN_KIND_SERVER: "server",
    SpanProto.SPAN_KIND_CLIENT: "client",
    SpanProto.SPAN_KIND_PRODUCER: "producer",
    SpanProto.SPAN_KIND_CONSUMER: "consumer",
}


@dataclass(frozen=True)
class Span:
    service: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    name: str
    kind: str
    attributes: dict[str, Any]
    error: bool
    events: list[str]  # their names: "exception" for each exception recorded


class OtlpReceiver:
    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._lock = threading.Lock()
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        """For ``OTEL_EXPORTER_OTLP_ENDPOINT``: the exporters append ``/v1/traces``."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)

    def trace(self, trace_id: str) -> list[Span]:
        return [span for span in self.spans() if span.trace_id == trace_id]

    def wait_for(self, found: Callable[[list[Span]], bool], timeout: float, what: str) -> None:
        """Return once ``found(all spans so far)`` holds; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found(self.spans()):
                return
            time.sleep(0.1)
        names = sorted({f"{s.service}: {s.name}" for s in self.spans()})
        raise AssertionError(f"not within {timeout} s: {what}; received {names}")

    def _receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = [
            _span(_service(resource_spans.resource.attributes), span)
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self._lock:
            self._spans.extend(spans)
            self.requests += 1

    def start(self) -> "OtlpReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self._answer(404, b"")
                    return
                try:
                    receiver._receive(body)
                except Exception:  # a body that is not an export request, as a collector would
                    self._answer(400, b"")
                    return
                self._answer(200, ExportTraceServiceResponse().SerializeToString())

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    running = OtlpReceiver().start()
    try:
        yield running
    finally:
        running.stop()


def _span(service: str, span: SpanProto) -> Span:
    return Span(
        service=service,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        name=span.name,
        kind=KINDS.get(span.kind, "unspecified"),
        attributes={kv.key: _value(kv.value) for kv in span.attributes},
        error=span.status.code == span.status.STATUS_CODE_ERROR,
        events=[event.name for event in span.events],
    )


def _service(attributes: Any) -> str:
    return str(_attributes(attributes).get("service.name", ""))


def _attributes(attributes: list[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in attributes}


def _value(value: AnyValue) -> Any:
    field = value.WhichOneof("value")
    return getattr(value, field) if field else None
