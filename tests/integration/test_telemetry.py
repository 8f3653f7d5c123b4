"""configure_telemetry in a fresh process each (a tracer provider is set once per process):
nothing exported without an endpoint, OTLP/HTTP to a real receiver with one, gRPC refused."""

import os
import subprocess
import sys

from tests.support.otlp import otlp_receiver

# a process that configures telemetry as a service does, makes one span with a database
# listener asked for, and prints what it got
PROGRAM = """
from opentelemetry import trace
from shared.telemetry import configure_telemetry, database_listeners, shutdown_telemetry, tracer
configure_telemetry("probe")
with tracer.start_as_current_span("probe work"):
    pass
provider = trace.get_tracer_provider()
print(len(provider._active_span_processor._span_processors), len(database_listeners()))
shutdown_telemetry()
"""


def run(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_an_endpoint_no_processor_no_exporter_and_no_database_spans() -> None:
    done = run()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0"]


def test_with_an_endpoint_spans_reach_the_receiver_named_by_service() -> None:
    with otlp_receiver() as collector:
        done = run(
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test",
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["1", "1"]
        # flushed at shutdown: the batch's delay (5 s by default) was not waited for
        [span] = collector.spans()
    assert span.name == "probe work" and span.service == "probe"


def test_otel_service_name_and_sampler_are_honoured() -> None:
    with otlp_receiver() as collector:
        named = run(OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint, OTEL_SERVICE_NAME="renamed")
        unsampled = run(
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{collector.endpoint}/v1/traces",
            OTEL_TRACES_SAMPLER="always_off",
        )
        assert named.returncode == 0 and unsampled.returncode == 0, named.stderr
        assert [span.service for span in collector.spans()] == ["renamed"]


def test_grpc_is_refused_at_start_with_a_clear_message() -> None:
    done = run(
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4317", OTEL_EXPORTER_OTLP_PROTOCOL="grpc"
    )
    assert done.returncode != 0
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported" in done.stderr
    assert "http/protobuf" in done.stderr
