"""Traces across every process, as a tracing backend receives them over OTLP/HTTP.

The whole system runs with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a receiver this test
starts; one conversion (with a webhook subscribed) and one boleto must each arrive as one
trace whose spans link process to process.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from system import System

from tests.support.api import api_client, upload, wait_final
from tests.support.infra import system_of_components
from tests.support.inter import charge_body, pdf_ready
from tests.support.notifier import eventually, new_tenant, receiver
from tests.support.otlp import OtlpReceiver, Span, otlp_receiver

SECRET = "s3cret-in-the-query"


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, collector: OtlpReceiver) -> Iterator[System]:
    with system_of_components(
        tmp_path_factory.mktemp("traced"),
        boleto=True,
        notifier=True,
        MONGODB_DB="traces",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_TRACES_SAMPLER="parentbased_always_on",
        OTEL_BSP_SCHEDULE_DELAY="200",
        UPLOAD_API_PROCESSES="2",  # uvicorn's worker processes each export their own spans
        INTER_SIM_PROCESSING_DELAY_SECONDS="0.5",
        BOLETO_PROCESSING_POLL_S="0.2",
        BOLETO_LIMIT_WINDOW_S="1",
        INTER_SIM_WINDOW_SECONDS="1",
        NOTIFIER_ALLOW_HTTP="true",
        NOTIFIER_ALLOW_LOOPBACK="true",
    ) as running:
        yield running


def one(spans: list[Span], name: str, service: str, parent: Span | None = None) -> Span:
    """The single span named ``name`` from ``service`` (a child of ``parent``, if given)."""
    found = [
        s
        for s in spans
        if s.name == name
        and s.service == service
        and (parent is None or s.parent_id == parent.span_id)
    ]
    under = f" under {parent.name} ({parent.service})" if parent else ""
    assert len(found) == 1, f"{name} ({service}){under}: {found or sorted_names(spans)}"
    return found[0]


def sorted_names(spans: list[Span]) -> list[str]:
    return sorted(f"{s.service}: {s.name} [{s.parent_id or 'root'}]" for s in spans)


def has(spans: list[Span], name: str, service: str) -> bool:
    return any(s.name == name and s.service == service for s in spans)


async def test_one_conversion_is_one_trace_from_the_upload_to_the_webhook_post(
    traced: System, collector: OtlpReceiver, mpp_files: list[Path]
) -> None:
    tenant, key = await new_tenant(traced.base_url, traced.admin_key)
    async with (
        receiver() as hook,
        api_client(traced.notifier_url, key) as notifier,
        api_client(traced.base_url, key) as api,
    ):
        subscribed = await notifier.post(
            "/v1/webhooks",
            json={"url": f"{hook.url}?token={SECRET}", "events": ["conversion.completed"]},
        )
        assert subscribed.status_code == 201, subscribed.text
        accepted = await upload(api, mpp_files[0])
        assert accepted.status_code == 202, accepted.text
        job = await wait_final(api, accepted.json()["id"])
        assert job["status"] == "completed", job
        await eventually(lambda: len(hook.requests) >= 1, 30, "the webhook POST")
    _, trace_id, post_span_id, _ = hook.requests[0].headers["traceparent"].split("-")

    def complete(spans: list[Span]) -> bool:
        mine = [s for s in spans if s.trace_id == trace_id]
        return has(mine, "POST webhook", "notifier-worker") and has(
            mine, "process conversion.completed.v1", "upload-worker"
        )

    collector.wait_for(complete, 30, "the conversion's spans from every process")
    spans = collector.trace(trace_id)

    server = one(spans, "POST /v1/conversions", "upload")
    assert server.kind == "server"
    requested = one(spans, "publish conversion.requested.v1", "upload", server)
    converting = one(spans, "process conversion.requested.v1", "converter", requested)
    jvm = one(spans, "jvm convert", "converter", converting)
    assert jvm.attributes["conversion.format"] == "mpp"
    assert jvm.attributes["conversion.target"] == "mspdi"
    assert jvm.attributes["conversion.input_bytes"] == mpp_files[0].stat().st_size
    assert jvm.attributes["conversion.outcome"] == "ok"
    outcome = one(spans, "publish conversion.completed.v1", "converter", converting)
    worker = one(spans, "process conversion.completed.v1", "upload-worker", outcome)
    notified = one(spans, "process conversion.completed.v1", "notifier-worker", outcome)
    post = one(spans, "POST webhook", "notifier-worker", notified)
    assert post.kind == "client" and post.span_id == post_span_id  # the receiver's parent
    assert post.attributes["http.url"] == hook.url  # the query, and its token, left out
    for consumer, queue in ((converting, "converter"), (worker, "upload"), (notified, "notifier")):
        assert consumer.kind == "consumer"
        assert consumer.attributes["messaging.system"] == "rabbitmq"
        assert queue in consumer.attributes["messaging.destination.name"]
        assert consumer.attributes["messaging.message.id"]
    assert requested.kind == "producer" and outcome.kind == "producer"

    # every process of the chain reported, each as itself; no span is named by a job's id
    assert {"upload", "converter", "upload-worker", "notifier-worker"} <= {s.service for s in spans}
    assert not [s.name for s in spans if job["id"] in s.name or tenant in s.name]
    # readiness probes (every process was polled until ready) make no spans
    assert not [s for s in collector.spans() if s.name.endswith(("/readyz", "/healthz"))]
    # database commands made for this job are part of its trace, under the span that made them
    ids = {s.span_id for s in spans}
    database = [s for s in spans if s.attributes.get("db.system") == "mongodb"]
    assert {s.service for s in database} >= {"upload", "converter"}
    assert all(s.parent_id in ids for s in database)


async def test_one_boleto_is_one_trace_with_every_inter_call_and_limiter_wait(
    traced: System, collector: OtlpReceiver
) -> None:
    async with api_client(traced.boleto_url, traced.api_key, timeout=30) as boletos:
        created = await boletos.post(
            "/v1/boletos", json=charge_body(seuNumero=f"T{uuid.uuid4().hex[:12]}")
        )
        assert created.status_code == 202, created.text
        boleto_id = created.json()["id"]
        await pdf_ready(boletos, boleto_id)

    def issued(spans: list[Span]) -> bool:
        return any(s.name == "POST /v1/boletos" for s in spans) and any(
            s.name == "inter issue" for s in spans
        )

    collector.wait_for(issued, 30, "the boleto's spans")
    [server] = [s for s in collector.spans() if s.name == "POST /v1/boletos"]
    assert server.service == "boleto-sync" and server.kind == "server"
    spans = collector.trace(server.trace_id)
    publish = one(spans, "publish charge.issue.requested.v1", "boleto-sync", server)
    issuing = one(spans, "process charge.issue.requested.v1", "boleto-sync-worker", publish)
    issue = one(spans, "inter issue", "boleto-sync-worker", issuing)
    assert issue.kind == "client" and issue.attributes["inter.operation"] == "issue"
    waits = [s for s in spans if s.name == "limiter wait" and s.parent_id == issuing.span_id]
    assert "issue" in {w.attributes["limiter.group"] for w in waits}
    assert all(w.attributes["limiter.wait_s"] >= 0 for w in waits)
    # every Inter call of this trace came after a wait for its group's slot, in the same span
    calls = [s for s in spans if s.name.startswith("inter ")]
    for call in calls:
        groups = {
            w.attributes["limiter.group"]
            for w in spans
            if w.name == "limiter wait" and w.parent_id == call.parent_id
        }
        assert call.attributes["inter.operation"] in groups, (call.name, groups)
    assert boleto_id not in str(sorted_names(spans))


async def test_spans_still_batched_are_sent_when_the_processes_stop(
    tmp_path: Path, mpp_files: list[Path]
) -> None:
    with otlp_receiver() as collector:
        with system_of_components(
            tmp_path,
            MONGODB_DB="flushed",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
            # nothing is sent during the test: not on a timer, nor for a full batch
            OTEL_BSP_SCHEDULE_DELAY="600000",
            OTEL_BSP_MAX_QUEUE_SIZE="100000",
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE="100000",
            UPLOAD_API_PROCESSES="2",
        ) as system:
            async with api_client(system.base_url, system.api_key) as api:
                accepted = await upload(api, mpp_files[0])
                assert accepted.status_code == 202, accepted.text
                assert (await wait_final(api, accepted.json()["id"]))["status"] == "completed"
            assert collector.requests == 0
        # stopped (SIGTERM): each process sent what it held before it ended
        spans = collector.spans()
    assert has(spans, "POST /v1/conversions", "upload")
    assert has(spans, "jvm convert", "converter")
    assert has(spans, "process conversion.completed.v1", "upload-worker")
