"""An OTLP/HTTP endpoint that accepts traces and counts them, standing in for a collector.

    python bench/otlp_sink.py PORT

``POST /v1/traces`` answers 200 at once and keeps the body; ``GET /stats`` decodes what was
kept and answers ``{"requests", "bytes", "spans", "services"}``. Decoding waits for
``/stats`` so that, while a benchmark measures, the sink costs what a collector's receiver
would: reading the request.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_bodies: list[bytes] = []
_lock = threading.Lock()


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with _lock:
            _bodies.append(body)
        self._answer(200, b"", "application/x-protobuf")

    def do_GET(self) -> None:
        if self.path != "/stats":
            self._answer(404, b"{}", "application/json")
            return
        self._answer(200, json.dumps(stats()).encode(), "application/json")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


def stats() -> dict[str, object]:
    with _lock:
        bodies = list(_bodies)
    spans, services = 0, set()
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    services.add(attribute.value.string_value)
            spans += sum(len(scope.spans) for scope in resource_spans.scope_spans)
    return {
        "requests": len(bodies),
        "bytes": sum(map(len, bodies)),
        "spans": spans,
        "services": sorted(services),
    }


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
