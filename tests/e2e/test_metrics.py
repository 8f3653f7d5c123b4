"""The metrics of docs/monitoring.md, scraped from the running processes after the work they
count: each counter moves by exactly what was done, in the process the table names."""

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from bootstrap import free_port
from prometheus_client.parser import text_string_to_metric_families
from system import System

from tests.support.api import api_client, upload, wait_final
from tests.support.inter import charge_body
from tests.support.notifier import completed, new_tenant, publish, receiver, sse

CONVERTER_QUEUE = "converter.conversion-requested"


@dataclass(frozen=True)
class Scrape:
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def __call__(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when the series does not exist (yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples


def scrape(port: int) -> Scrape:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return Scrape(
        {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
    )


async def until(port: int, check: Callable[[Scrape], bool], timeout: float = 30) -> Scrape:
    """The first scrape of ``port`` for which ``check`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        current = scrape(port)
        if check(current):
            return current
        assert time.monotonic() < deadline, f"/metrics of port {port} never got there"
        await asyncio.sleep(0.2)


def unique_schedule(fixtures_dir: Path) -> bytes:
    """An MSPDI file no earlier test uploaded (a sample with a comment of its own at the end):
    its conversion cannot reuse an earlier result."""
    sample = (fixtures_dir / "other" / "legacy__sample.xml").read_bytes()
    return sample + f"\n<!-- {uuid.uuid4().hex} -->\n".encode()


async def test_one_conversion_moves_the_counters_of_each_process_it_passes(
    system: System, client: httpx.AsyncClient, fixtures_dir: Path
) -> None:
    ports = system.scrape_targets()
    api, worker, converter = ports["upload-api"], ports["upload-worker"], ports["converter"]
    before = {port: scrape(port) for port in (api, worker, converter)}
    content = unique_schedule(fixtures_dir)
    response = await upload(client, content=content, name="plan.xml", target="json")
    job = await wait_final(client, response.json()["id"])
    assert job["status"] == "completed"

    accepted = {"format": "xml", "target": "json"}
    done = {"format": "xml", "target": "json", "status": "completed", "code": ""}
    timed = {"format": "xml", "target": "json", "outcome": "completed"}
    rates = {"queue": CONVERTER_QUEUE, "outcome": "acked"}
    after = await until(
        converter,
        lambda s: (
            s("messaging_messages_total", **rates)
            > before[converter]("messaging_messages_total", **rates)
        ),
    )
    moved = {
        name: after(name, **labels) - before[converter](name, **labels)
        for name, labels in [
            ("conversion_jobs_finished_total", done),
            ("converter_conversion_duration_seconds_count", timed),
            ("converter_input_bytes_count", {"format": "xml"}),
            ("converter_input_bytes_sum", {"format": "xml"}),
            ("messaging_messages_total", rates),
            ("outbox_published_total", {"collection": "converter_records"}),
        ]
    }
    assert moved == {
        "conversion_jobs_finished_total": 1,
        "converter_conversion_duration_seconds_count": 1,
        "converter_input_bytes_count": 1,
        "converter_input_bytes_sum": len(content),
        "messaging_messages_total": 1,
        "outbox_published_total": 1,
    }
    api_after = scrape(api)
    fresh = api_after("conversion_jobs_accepted_total", **accepted, reused="false")
    assert fresh - before[api]("conversion_jobs_accepted_total", **accepted, reused="false") == 1
    published = api_after("outbox_published_total", collection="conversion_jobs")
    assert published - before[api]("outbox_published_total", collection="conversion_jobs") == 1
    # the upload worker applies the converter's completed event, after its started event
    # when the JVM had the job long enough to announce it (CONVERTER_STARTED_AFTER_S: a warm
    # JVM converts this file in less, a cold one may not)
    events = {"queue": "upload.conversion-events", "outcome": "acked"}
    applied = await until(
        worker,
        lambda s: (
            s("messaging_messages_total", **events)
            - before[worker]("messaging_messages_total", **events)
            >= 1
        ),
    )
    moved_events = applied("messaging_messages_total", **events) - before[worker](
        "messaging_messages_total", **events
    )
    assert moved_events in (1, 2)

    again = await upload(client, content=content, name="plan.xml", target="json")
    assert (await wait_final(client, again.json()["id"]))["status"] == "completed"
    reused = scrape(api)("conversion_jobs_accepted_total", **accepted, reused="true")
    assert reused - before[api]("conversion_jobs_accepted_total", **accepted, reused="true") == 1
    assert scrape(converter)("conversion_jobs_finished_total", **done) == after(
        "conversion_jobs_finished_total", **done
    )  # a reused result is not converted again


async def test_a_failed_conversion_is_counted_with_its_stable_code(
    system: System, client: httpx.AsyncClient
) -> None:
    converter = system.scrape_targets()["converter"]
    before = scrape(converter)
    broken = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4096 + uuid.uuid4().bytes
    response = await upload(client, content=broken, name="broken.mpp", target="mspdi")
    job = await wait_final(client, response.json()["id"])
    assert job["status"] == "failed"
    code = job["error"]["code"]
    failed = {"format": "mpp", "target": "mspdi", "status": "failed", "code": code}
    after = await until(
        converter,
        lambda s: (
            s("conversion_jobs_finished_total", **failed)
            > before("conversion_jobs_finished_total", **failed)
        ),
    )
    assert (
        after("conversion_jobs_finished_total", **failed)
        - before("conversion_jobs_finished_total", **failed)
        == 1
    )
    timed = {"format": "mpp", "target": "mspdi", "outcome": code}
    assert (
        after("converter_conversion_duration_seconds_count", **timed)
        - before("converter_conversion_duration_seconds_count", **timed)
        == 1
    )


async def test_workers_sample_their_queues_and_outboxes(system: System) -> None:
    converter = system.scrape_targets()["converter"]
    sampled = await until(
        converter,
        lambda s: (
            s.has("messaging_queue_depth", queue=CONVERTER_QUEUE)
            and s.has("messaging_queue_depth", queue=f"{CONVERTER_QUEUE}.dlq")
            and s.has("outbox_backlog", collection="converter_records")
        ),
    )
    assert sampled("messaging_queue_consumers", queue=CONVERTER_QUEUE) == 1
    assert sampled("messaging_queue_consumers", queue=f"{CONVERTER_QUEUE}.dlq") == 0


async def test_an_api_of_two_processes_answers_for_both_on_every_scrape(system: System) -> None:
    port = free_port()
    env = {"UPLOAD_PORT": str(port), "UPLOAD_API_PROCESSES": "2"}
    system.start("upload-api-pair", ["upload", "api"], port, env)
    parent = system.processes["upload-api-pair"].pid
    try:
        requests = 60
        async with asyncio.TaskGroup() as group:  # a connection each, spread over both
            for _ in range(requests):
                group.create_task(_healthz(port))
        assert len(_serving(parent)) == 2, "both processes must have served requests"
        for _ in range(6):
            count = scrape(port)(
                "http_request_duration_seconds_count", method="GET", route="/healthz", status="200"
            )
            assert count == requests
    finally:
        process = system.processes.pop("upload-api-pair")
        process.terminate()
        process.wait(30)


async def _healthz(port: int) -> None:
    async with httpx.AsyncClient() as fresh:
        assert (await fresh.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200


def _serving(parent: int) -> set[int]:
    """The processes under ``parent`` that have timed a request: each writes its histograms
    to a file of its own, named by its pid, in the folder they share."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    serving = set()
    for pid in map(int, children):
        folder = _metrics_folder(pid)
        if folder is not None and (folder / f"histogram_{pid}.db").exists():
            serving.add(pid)
    return serving


def _metrics_folder(pid: int) -> Path | None:
    """The PROMETHEUS_MULTIPROC_DIR a process was started with."""
    for variable in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        name, _, value = variable.partition(b"=")
        if name == b"PROMETHEUS_MULTIPROC_DIR":
            return Path(value.decode())
    return None


async def test_a_boleto_counts_its_bank_calls_and_limiter_waits(system: System) -> None:
    worker = system.scrape_targets()["boleto-worker"]
    before = scrape(worker)
    async with api_client(system.boleto_url, system.api_key, timeout=30) as boletos:
        charge = charge_body(seuNumero=f"M{uuid.uuid4().hex[:12]}")
        boleto_id = (await boletos.post("/v1/boletos", json=charge)).json()["id"]
        for _ in range(300):
            if (await boletos.get(f"/v1/boletos/{boleto_id}/pdf")).status_code == 200:
                break
            await asyncio.sleep(0.1)
    after = scrape(worker)

    def moved(name: str, **labels: str) -> float:
        return after(name, **labels) - before(name, **labels)

    assert moved("inter_requests_total", operation="issue", status="200") == 1
    assert moved("inter_requests_total", operation="pdf", status="200") == 1
    assert moved("inter_request_duration_seconds_count", operation="pdf") == 1
    assert moved("inter_limiter_wait_seconds_count", group="issue") == 1
    assert moved("inter_limiter_wait_seconds_count", group="pdf") == 1


async def test_a_delivered_webhook_counts_its_latency_from_the_event(system: System) -> None:
    notifier = system.scrape_targets()["notifier-worker"]
    tenant, key = await new_tenant(system.base_url, system.admin_key)
    async with (
        receiver() as hook,
        api_client(system.notifier_url, key) as client,
    ):
        created = await client.post("/v1/webhooks", json={"url": hook.url, "events": ["*"]})
        assert created.status_code == 201, created.text
        before = scrape(notifier)
        await publish(system.env["RABBITMQ_URL"], completed(tenant))
        latency = "notifier_delivery_latency_seconds_count"
        after = await until(
            notifier, lambda s: s(latency, channel="webhook") > before(latency, channel="webhook")
        )
    assert after(latency, channel="webhook") - before(latency, channel="webhook") == 1
    delivered = {"channel": "webhook", "outcome": "delivered"}
    attempts = "notifier_delivery_attempts_total"
    assert after(attempts, **delivered) - before(attempts, **delivered) == 1
    assert len(hook.delivered()) == 1


async def test_the_notifier_api_counts_its_live_streams(system: System) -> None:
    api = system.scrape_targets()["notifier-api"]
    _, key = await new_tenant(system.base_url, system.admin_key)
    idle = scrape(api)("notifier_stream_clients")
    async with sse(system.notifier_url, key):
        assert scrape(api)("notifier_stream_clients") == idle + 1
    await until(api, lambda s: s("notifier_stream_clients") == idle)


async def test_live_streams_of_a_killed_process_stop_counting(system: System) -> None:
    port = free_port()
    env = {"NOTIFIER_PORT": str(port), "NOTIFIER_API_PROCESSES": "2"}
    system.start("notifier-api-pair", ["notifier", "api"], port, env)
    parent = system.processes["notifier-api-pair"].pid
    _, key = await new_tenant(system.base_url, system.admin_key)
    try:
        async with sse(f"http://127.0.0.1:{port}", key):
            assert scrape(port)("notifier_stream_clients") == 1
            for pid in _with_live_gauges(parent):
                os.kill(pid, signal.SIGKILL)  # no shutdown of their own: the parent tidies
            await until(port, lambda s: s("notifier_stream_clients") == 0, timeout=30)
    finally:
        process = system.processes.pop("notifier-api-pair")
        process.terminate()
        process.wait(30)


def _with_live_gauges(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    folders = {_metrics_folder(int(pid)) for pid in children} - {None}
    assert len(folders) == 1, "the processes of one API share one folder"
    folder = folders.pop()
    assert folder is not None
    return [int(pid) for pid in children if (folder / f"gauge_livesum_{pid}.db").exists()]
