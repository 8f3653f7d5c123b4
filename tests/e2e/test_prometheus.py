"""A real Prometheus against the running system (docs/monitoring.md): every process an up
target, every documented metric exported and moved by real work, every PromQL expression of the
alert rules and dashboards answered; and ``make observe``'s Prometheus sees every process."""

import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bootstrap import free_port
from prometheus import prometheus, running
from system import System

from tests.support.api import api_client, upload, wait_final
from tests.support.infra import system_of_components
from tests.support.inter import charge_body, pdf_ready
from tests.support.makerun import Run, amqp_url, eventually, processes_of_run, started_run
from tests.support.notifier import new_tenant, receiver
from tests.support.promql import (
    BUILTIN,
    alerting_rules,
    documented_metrics,
    documented_name,
    expressions,
    metric_names,
)

__all__ = ["amqp_url"]  # a fixture

OBSERVE = Path(__file__).resolve().parents[2] / "scripts" / "observe.py"
PROCESSES = {
    "upload-api",
    "upload-worker",
    "converter",
    "boleto-api",
    "boleto-worker",
    "notifier-api",
    "notifier-worker",
}

# what the work below must move: a conversion, a failed one, a boleto, a webhook delivery
MOVED = [
    'sum(http_request_duration_seconds_count{route="/v1/conversions"})',
    "sum(api_document_cache_lookups_total)",
    "sum(conversion_jobs_accepted_total)",
    'sum(conversion_jobs_finished_total{status="completed"})',
    'sum(conversion_jobs_finished_total{status="failed", code="corrupt_file"})',
    'sum(converter_conversion_duration_seconds_count{outcome="completed"})',
    "sum(converter_input_bytes_count)",
    'sum(messaging_messages_total{outcome="acked"})',
    "sum(messaging_handler_duration_seconds_count)",
    "sum(outbox_published_total)",
    "sum(inter_requests_total)",
    "sum(inter_request_duration_seconds_count)",
    "sum(inter_limiter_wait_seconds_count)",
    'sum(notifier_delivery_attempts_total{channel="webhook", outcome="delivered"})',
    'sum(notifier_delivery_attempt_seconds_count{channel="webhook"})',
    'sum(notifier_delivery_latency_seconds_count{channel="webhook"})',
]


@dataclass
class Observed:
    system: System
    prometheus: httpx.Client

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = self.prometheus.get("/api/v1/query", params={"query": expr})
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", (expr, body)
        return body["data"]["result"]  # type: ignore[no-any-return]

    def value(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0

    def targets(self) -> dict[str, str]:
        return _targets(self.prometheus)

    def exported(self) -> set[str]:
        return set(self.prometheus.get("/api/v1/label/__name__/values").json()["data"])


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """The whole system, its gauges sampled every second, and a Prometheus scraping each of its
    processes every second with the alert rules loaded."""
    root = tmp_path_factory.mktemp("observed")
    with system_of_components(
        root,
        boleto=True,
        notifier=True,
        MONGODB_DB="metrics",
        METRICS_SAMPLE_S="1",
        INTER_SIM_PROCESSING_DELAY_SECONDS="0.5",
        BOLETO_PROCESSING_POLL_S="0.2",
        NOTIFIER_ALLOW_HTTP="true",
        NOTIFIER_ALLOW_LOOPBACK="true",
    ) as system:
        server = prometheus(root / "prometheus", free_port(), system.scrape_targets(), "1s")
        with running(server), httpx.Client(base_url=server.url, timeout=10) as client:
            watching = Observed(system, client)
            deadline = time.monotonic() + 60
            while not _all_up(watching):  # the first scrape of each target
                assert time.monotonic() < deadline, f"targets not all up: {watching.targets()}"
                time.sleep(0.5)
            yield watching


@pytest.fixture(scope="module")
async def work(observed: Observed, mpp_files: list[Path]) -> dict[str, float]:
    """Each counter of ``MOVED`` as it was before a conversion, a failed conversion, a boleto
    and a webhook delivery, once all of them are done."""
    before = {expr: observed.value(expr) for expr in MOVED}
    system = observed.system
    _tenant, key = await new_tenant(system.base_url, system.admin_key)
    async with (
        receiver() as hook,
        api_client(system.notifier_url, key) as notifier,
        api_client(system.base_url, key) as conversions,
        api_client(system.boleto_url, key) as boletos,
    ):
        subscribed = await notifier.post(
            "/v1/webhooks", json={"url": hook.url, "events": ["conversion.completed"]}
        )
        assert subscribed.status_code == 201, subscribed.text
        job = await wait_final(conversions, (await upload(conversions, mpp_files[0])).json()["id"])
        assert job["status"] == "completed", job
        corrupt = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4096
        failed = await upload(conversions, content=corrupt, name="broken.mpp")
        job = await wait_final(conversions, failed.json()["id"])
        assert job["status"] == "failed" and job["error"]["code"] == "corrupt_file", job
        boleto = await boletos.post("/v1/boletos", json=charge_body(seuNumero=_number()))
        assert boleto.status_code == 202, boleto.text
        await pdf_ready(boletos, boleto.json()["id"])
        await eventually(lambda: hook.delivered(), 30, "the webhook delivery")
    return before


def _all_up(observed: Observed) -> bool:
    targets = observed.targets()
    return set(targets) == PROCESSES and set(targets.values()) == {"up"}


def _number() -> str:
    return f"M{uuid.uuid4().hex[:12]}"


def test_every_process_of_the_system_is_an_up_target(observed: Observed) -> None:
    assert set(observed.system.scrape_targets()) == PROCESSES
    assert observed.targets() == dict.fromkeys(PROCESSES, "up")
    up = {series["metric"]["job"]: series["value"][1] for series in observed.query("up")}
    assert up == dict.fromkeys(PROCESSES, "1")


async def test_the_work_moves_its_counters(observed: Observed, work: dict[str, float]) -> None:
    def moved() -> bool:
        return all(observed.value(expr) > before for expr, before in work.items())

    await eventually(moved, 30, "every counter the work moves scraped higher")


async def test_every_documented_metric_is_exported(
    observed: Observed, work: dict[str, float]
) -> None:
    table = documented_metrics()
    assert len(table) >= 20, "the table of docs/monitoring.md was not read"
    expected = {series for metric in table.values() for series in metric.series()}

    def missing() -> set[str]:
        return expected - observed.exported()

    with suppress(AssertionError):  # the last samples may be a scrape away
        await eventually(lambda: not missing(), 30, "every documented metric exported")
    assert missing() == set()


def test_the_queue_gauges_are_sampled(observed: Observed) -> None:
    consumers = observed.query('max by (queue) (messaging_queue_consumers{queue!~".+[.]dlq"})')
    assert {series["metric"]["queue"] for series in consumers} >= {
        "converter.conversion-requested",
        "upload.conversion-events",
        "boleto-sync.charge-issue",
        "notifier.deliveries",
    }
    assert all(float(series["value"][1]) >= 1 for series in consumers)
    depths = observed.query("max by (queue) (messaging_queue_depth)")
    assert any(series["metric"]["queue"].endswith(".dlq") for series in depths)


async def test_every_rule_and_panel_expression_evaluates(
    observed: Observed, work: dict[str, float]
) -> None:
    for where, expr in expressions().items():
        response = observed.prometheus.get("/api/v1/query", params={"query": expr})
        assert response.json()["status"] == "success", (where, response.text)


async def test_every_metric_the_expressions_read_is_documented_and_exported(
    observed: Observed, work: dict[str, float]
) -> None:
    table, exported = documented_metrics(), observed.exported()
    for where, expr in expressions().items():
        names = metric_names(expr) - BUILTIN
        assert [n for n in names if documented_name(n, table) is None] == [], where
        assert names <= exported, (where, names - exported)


async def test_the_loaded_rules_evaluate_without_error(observed: Observed) -> None:
    def groups() -> list[dict[str, Any]]:
        return observed.prometheus.get("/api/v1/rules").json()["data"]["groups"]  # type: ignore[no-any-return]

    def evaluated() -> bool:  # never evaluated: "0001-01-01T00:00:00Z"
        return all(group["lastEvaluation"] > "2000" for group in groups())

    await eventually(evaluated, 30, "every rule evaluated")
    health = {rule["name"]: rule["health"] for group in groups() for rule in group["rules"]}
    assert health == {rule["alert"]: "ok" for rule in alerting_rules()}


@pytest.fixture
def make_observe(tmp_path: Path, amqp_url: str) -> Iterator[tuple[Run, int, int, str]]:
    """scripts/observe.py on free ports (Prometheus and Alertmanager included), a vhost and a
    DATA_DIR of its own, with an OTEL_* variable to find in every process it starts."""
    scraper, manager = free_port(), free_port()
    marker = f"observe.test={uuid.uuid4().hex}"
    with started_run(
        OBSERVE,
        tmp_path,
        amqp_url,
        OBSERVE_PROMETHEUS_PORT=str(scraper),
        OBSERVE_ALERTMANAGER_PORT=str(manager),
        OBSERVE_SCRAPE_INTERVAL="1s",
        OTEL_RESOURCE_ATTRIBUTES=marker,
    ) as run:
        yield run, scraper, manager, marker


@pytest.mark.timeout(600)
async def test_make_observe_scrapes_every_process_and_stops_with_them(
    make_observe: tuple[Run, int, int, str],
) -> None:
    run, scraper, manager, marker = make_observe
    await eventually(run.started, 300, "the banner")
    assert f"http://127.0.0.1:{scraper}" in run.output
    assert f"http://127.0.0.1:{manager}" in run.output
    with httpx.Client(base_url=f"http://127.0.0.1:{scraper}", timeout=10) as client:
        await eventually(lambda: _targets(client) == dict.fromkeys(PROCESSES, "up"), 60, "up")
        assert _alerting_rules(client) == len(alerting_rules())
        assert _alertmanagers(client) == [f"http://127.0.0.1:{manager}/api/v2/alerts"]
    old = run.state()["prometheus"]["pid"]
    os.kill(old, signal.SIGKILL)  # supervised as every other process: it comes back
    await eventually(lambda: run.restarted("prometheus", old), 30, "Prometheus restarted")
    with httpx.Client(base_url=f"http://127.0.0.1:{scraper}", timeout=10) as client:
        await eventually(lambda: _answers(client), 60, "the restarted Prometheus answering")
    assert run.state()["alertmanager"]["state"] == "running"
    started = processes_of_run(run.data_dir)
    assert len(started) >= len(PROCESSES) + 3  # the simulator, Prometheus and Alertmanager
    for pid in started:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"OTEL_RESOURCE_ATTRIBUTES={marker}".encode() in environ, pid
    run.process.send_signal(signal.SIGINT)
    assert run.process.wait(120) == 0
    assert processes_of_run(run.data_dir) == []


def _targets(client: httpx.Client) -> dict[str, str]:
    body = client.get("/api/v1/targets").json()
    return {t["labels"]["job"]: t["health"] for t in body["data"]["activeTargets"]}


def _alerting_rules(client: httpx.Client) -> int:
    groups = client.get("/api/v1/rules").json()["data"]["groups"]
    return sum(rule["type"] == "alerting" for group in groups for rule in group["rules"])


def _alertmanagers(client: httpx.Client) -> list[str]:
    body = client.get("/api/v1/alertmanagers").json()
    return [manager["url"] for manager in body["data"]["activeAlertmanagers"]]


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/-/ready").status_code == 200
    except httpx.HTTPError:
        return False
