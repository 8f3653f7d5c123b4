"""The operator views (admin keys) on a real RabbitMQ and SecantusDB: queue depths and dead
letters, replay, the job summaries, their refusals and their audit lines."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
import structlog
from fastapi import FastAPI

from boleto_sync.app import create_app as boleto_app
from boleto_sync.bootstrap import WorkerDeps
from boleto_sync.issuing import issue_gave_up
from boleto_sync.pdf_sync import sync_failed
from boleto_sync.repository import BoletoRepository
from boleto_sync.service import sync_job
from boleto_sync.settings import BoletoSettings
from converter.repository import ConversionRecords
from shared import queues
from shared.bootstrap import Infra
from shared.clock import now
from shared.events import (
    BoletoSyncRequested,
    ChargeIssueRequested,
    ConversionFailed,
    ConversionOptions,
    ConversionRequested,
    Event,
)
from shared.messaging import Delivery, OutboxRelay, PermanentError, Subscription, encode
from shared.service import subscribe
from shared.settings import InfraSettings
from tests.support.faultproxy import FaultProxy
from tests.support.notifier import eventually
from upload.app import create_app as upload_app
from upload.repository import JobRepository
from upload.settings import UploadSettings

ADMIN_KEY = f"sk_admin_{uuid.uuid4().hex}"
TENANT_KEY = f"sk_tenant_{uuid.uuid4().hex}"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TENANT = {"Authorization": f"Bearer {TENANT_KEY}"}
Logged = list[MutableMapping[str, Any]]


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient


def _settings(infra_settings: InfraSettings) -> InfraSettings:
    return infra_settings.model_copy(
        update={"dev_admin_key": ADMIN_KEY, "dev_api_key": TENANT_KEY, "log_format": "json"}
    )


async def _served(app: FastAPI) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api.test") as client,
    ):
        yield Api(app, client)


@pytest.fixture
async def upload(infra_settings: InfraSettings, infra: Infra) -> AsyncIterator[Api]:
    async for api in _served(upload_app(_settings(infra_settings), UploadSettings())):
        yield api


@pytest.fixture
async def boleto(infra_settings: InfraSettings, infra: Infra) -> AsyncIterator[Api]:
    async for api in _served(boleto_app(_settings(infra_settings), BoletoSettings())):
        yield api


class Flaky:
    """A handler that fails for good until it is mended, then records what it handles."""

    def __init__(self) -> None:
        self.broken = True
        self.handled: list[tuple[Event, Delivery]] = []

    async def __call__(self, event: Event, delivery: Delivery) -> None:
        if self.broken:
            raise PermanentError("the handler is broken")
        self.handled.append((event, delivery))


async def _subscribed(infra: Infra, queue: str, model: type[Event], handler: Flaky) -> Subscription:
    subscription = subscribe(infra, queue, {model: handler}, prefetch=4)
    await subscription.start()
    return subscription


async def _queue(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.get("/v1/admin/queues", headers=ADMIN)
    assert response.status_code == 200, response.text
    return next(view for view in response.json()["queues"] if view["queue"] == name)


async def _dead_letters(client: httpx.AsyncClient, name: str, count: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while (view := await _queue(client, name))["dead_letters"] != count:
        assert time.monotonic() < deadline, f"{name} never held {count} dead letters: {view}"
    return view


@pytest.fixture
def logged(upload: Api) -> Iterator[Logged]:
    """Every line the process logs from here on (after the app configured its logging)."""
    with structlog.testing.capture_logs() as lines:
        yield lines


def _audits(logged: Logged) -> Logged:
    return [line for line in logged if line.get("event") == "admin.audit"]


def _request(job_id: str) -> ConversionRequested:
    return ConversionRequested(
        tenant_id="dev",
        job_id=job_id,
        source_key=f"dev/{job_id}/source",
        source_sha256="0" * 64,
        source_size=10,
        filename="plan.mpp",
        options=ConversionOptions(),
        result_key=f"dev/{job_id}/result",
    )


async def test_a_dead_letter_shows_in_the_queue_view_and_a_replay_gets_it_handled(
    upload: Api, infra: Infra, logged: Logged
) -> None:
    queue, handler = queues.CONVERSION_EVENTS, Flaky()
    subscription = await _subscribed(infra, queue, ConversionFailed, handler)
    try:
        event = ConversionFailed(tenant_id="dev", job_id="cv_x", code="internal", message="m")
        envelope = encode(event, "/tests")
        await infra.broker.publish(envelope)
        view = await _dead_letters(upload.client, queue, 1)
        assert (view["declared"], view["ready"], view["consumers"]) == (True, 0, 1)
        assert view["retrying"] == {f"{queue}.retry.100ms": 0, f"{queue}.retry.200ms": 0}
        missing = await _queue(upload.client, queues.DELIVERIES)
        assert (missing["declared"], missing["dead_letters"]) == (False, None)

        handler.broken = False
        replay = await upload.client.post(
            f"/v1/admin/queues/{queue}/replay", json={"limit": 10}, headers=ADMIN
        )
        assert replay.status_code == 200, replay.text
        assert replay.json() == {"queue": queue, "moved": 1}
        await eventually(lambda: bool(handler.handled), 20, "the replayed message handled")
    finally:
        await subscription.stop(1)
    [(handled, delivery)] = handler.handled
    assert handled == event
    assert (delivery.event_id, delivery.attempt, delivery.replayed) == (envelope.id, 1, True)
    assert (await _queue(upload.client, queue))["dead_letters"] == 0

    assert ADMIN_KEY not in repr(logged)
    audits = _audits(logged)
    [replayed] = [line for line in audits if line["action"] == "queues.replay"]
    assert (replayed["target"], replayed["result"], replayed["moved"]) == (queue, "ok", 1)
    assert replayed["key_tenant"] == "admin" and replayed["key_id"].startswith("key_")
    assert any(line["action"] == "queues.view" and line["result"] == "ok" for line in audits)


async def test_replaying_a_dead_conversion_request_queues_its_job_again(
    upload: Api, infra: Infra
) -> None:
    """Only a job that failed because its request ran out of attempts is queued again; one
    that failed for its own reason keeps its failure."""
    jobs = infra.db["conversion_jobs"]
    gave_up, corrupt = f"cv_{uuid.uuid4().hex[:8]}", f"cv_{uuid.uuid4().hex[:8]}"
    reasons = {
        gave_up: ("internal", f"{queues.GAVE_UP}: TimeoutError: "),
        corrupt: ("corrupt_file", "not a plan"),
    }
    await jobs.insert_many(
        [
            {
                "_id": job_id,
                "tenant": "dev",
                "status": "failed",
                "created_at": now(),
                "error": {"code": code, "message": message},
            }
            for job_id, (code, message) in reasons.items()
        ]
    )
    queue, handler = queues.CONVERSION_REQUESTS, Flaky()
    subscription = await _subscribed(infra, queue, ConversionRequested, handler)
    try:
        for job_id in reasons:
            await infra.broker.publish(encode(_request(job_id), "/tests"))
        await _dead_letters(upload.client, queue, 2)
        handler.broken = False
        path = f"/v1/admin/queues/{queue}/replay"
        first = await upload.client.post(path, json={"limit": 1}, headers=ADMIN)
        assert first.json()["moved"] == 1
        rest = await upload.client.post(path, json={}, headers=ADMIN)
        assert rest.json()["moved"] == 1
        await eventually(lambda: len(handler.handled) == 2, 20, "both requests handled")
    finally:
        await subscription.stop(1)
    assert all(delivery.replayed for _, delivery in handler.handled)
    repository = JobRepository(infra.db)
    requeued, kept = await repository.by_id(gave_up), await repository.by_id(corrupt)
    assert requeued is not None and (requeued["status"], requeued["error"]) == ("queued", None)
    assert kept is not None and (kept["status"], kept["error"]["code"]) == (
        "failed",
        "corrupt_file",
    )


async def test_the_converter_forgets_only_a_give_up_record_on_replay(infra: Infra) -> None:
    records = ConversionRecords(infra.db, timedelta(hours=1))
    entry = {"id": "e", "routing_key": "k", "headers": {}, "content_type": "c", "body": b""}
    outcomes = {
        "cv_gave_up": {"code": "internal", "message": f"{queues.GAVE_UP}: boom"},
        "cv_lost": {"code": "internal", "message": "the source file is no longer stored"},
    }
    for job_id, outcome in outcomes.items():
        await records.finish(job_id, "dev", outcome, entry)
        await records.forget_gave_up(job_id)
    assert await records.get("cv_gave_up") is None
    assert await records.get("cv_lost") is not None


async def test_the_conversion_summary_counts_statuses_and_the_oldest_pending_per_tenant(
    upload: Api, infra: Infra, logged: Logged
) -> None:
    at = now()
    jobs = [
        ("cv_a1", "acme", "queued", 100),
        ("cv_a2", "acme", "converting", 50),
        ("cv_b1", "bolt", "queued", 10),
        ("cv_c1", "acme", "completed", 500),
        ("cv_f1", "bolt", "failed", 1000),
    ]
    await infra.db["conversion_jobs"].insert_many(
        [
            {
                "_id": job_id,
                "tenant": tenant,
                "status": status,
                "created_at": at - timedelta(seconds=age),
            }
            for job_id, tenant, status, age in jobs
        ]
    )
    response = await upload.client.get("/v1/admin/conversions/summary", headers=ADMIN)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["total"] == 5
    statuses = {s["status"]: (s["count"], s["oldest_age_s"]) for s in summary["statuses"]}
    assert statuses["completed"] == (1, None) and statuses["failed"] == (1, None)
    assert statuses["queued"][0] == 2 and 100 <= statuses["queued"][1] < 130
    assert statuses["converting"][0] == 1 and 50 <= statuses["converting"][1] < 80
    pending = [
        (t["tenant"], t["job_id"], t["status"], t["pending"]) for t in summary["oldest_pending"]
    ]
    assert pending == [("acme", "cv_a1", "queued", 2), ("bolt", "cv_b1", "queued", 1)]
    [audit] = [a for a in _audits(logged) if a["action"] == "conversions.summary"]
    assert (audit["result"], audit["total"]) == ("ok", 5)


async def test_the_summary_of_a_few_thousand_jobs_stays_an_operators_wait(
    upload: Api, infra: Infra
) -> None:
    """SecantusDB reads every retained job for it: bounded, but not free."""
    at = now()
    statuses = ["queued", "converting", "completed", "completed", "failed"]
    await infra.db["conversion_jobs"].insert_many(
        [
            {
                "_id": f"cv_{i}",
                "tenant": f"t{i % 40}",
                "status": statuses[i % 5],
                "created_at": at - timedelta(seconds=i),
                "options": {"target": "mspdi"},
            }
            for i in range(3000)
        ]
    )
    started = time.monotonic()
    response = await upload.client.get("/v1/admin/conversions/summary", headers=ADMIN)
    took = time.monotonic() - started
    assert response.status_code == 200 and response.json()["total"] == 3000
    # pending: every i with i % 5 < 2, whose tenants are the 16 of the 40 with t % 5 < 2
    oldest = {t["tenant"]: t["job_id"] for t in response.json()["oldest_pending"]}
    assert len(oldest) == 16 and oldest["t0"] == "cv_2960" and oldest["t1"] == "cv_2961"
    assert took < 5, f"the summary of 3,000 jobs took {took:.1f} s"


async def test_the_boleto_job_summary(boleto: Api, infra: Infra) -> None:
    at = now()
    await infra.db["boleto_jobs"].insert_many(
        [
            {
                "_id": "job_1",
                "tenant": "acme",
                "kind": "pdf_sync",
                "status": "running",
                "created_at": at - timedelta(seconds=30),
            },
            {
                "_id": "job_2",
                "tenant": "acme",
                "kind": "pdf_sync",
                "status": "completed",
                "created_at": at,
            },
        ]
    )
    response = await boleto.client.get("/v1/admin/jobs/summary", headers=ADMIN)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["total"], summary["pending_statuses"]) == (2, ["queued", "running"])
    [oldest] = summary["oldest_pending"]
    assert (oldest["tenant"], oldest["job_id"], oldest["status"]) == ("acme", "job_1", "running")
    forbidden = await boleto.client.get("/v1/admin/jobs/summary", headers=TENANT)
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/admin/queues"),
        ("POST", f"/v1/admin/queues/{queues.CONVERSION_REQUESTS}/replay"),
        ("GET", "/v1/admin/conversions/summary"),
    ],
)
async def test_only_admin_keys_see_the_operator_views(
    upload: Api, method: str, path: str, logged: Logged
) -> None:
    anonymous = await upload.client.request(method, path, json={})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
    tenant = await upload.client.request(method, path, json={}, headers=TENANT)
    assert (tenant.status_code, tenant.json()["code"]) == (403, "forbidden")
    assert TENANT_KEY not in repr(logged)
    [refused] = _audits(logged)
    assert (refused["result"], refused["key_tenant"]) == ("forbidden", "dev")


async def test_replay_refusals_have_stable_codes(upload: Api) -> None:
    unknown = await upload.client.post("/v1/admin/queues/nope/replay", json={}, headers=ADMIN)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    undeclared = await upload.client.post(
        f"/v1/admin/queues/{queues.DELIVERIES}/replay", json={}, headers=ADMIN
    )
    assert (undeclared.status_code, undeclared.json()["code"]) == (409, "not_declared")
    invalid = await upload.client.post(
        f"/v1/admin/queues/{queues.DELIVERIES}/replay", json={"limit": 0}, headers=ADMIN
    )
    assert (invalid.status_code, invalid.json()["code"]) == (422, "validation_error")


async def test_the_queue_view_answers_503_while_the_broker_is_out_of_reach(
    infra_settings: InfraSettings, infra: Infra
) -> None:
    proxy = FaultProxy(urlsplit(infra_settings.rabbitmq_url).port or 5672).start()
    try:
        url = infra_settings.rabbitmq_url.replace(":5672/", f":{proxy.port}/")
        settings = _settings(infra_settings).model_copy(update={"rabbitmq_url": url})
        async for api in _served(upload_app(settings, UploadSettings())):
            assert (await api.client.get("/v1/admin/queues", headers=ADMIN)).status_code == 200
            proxy.cut()
            started = time.monotonic()
            response = await api.client.get("/v1/admin/queues", headers=ADMIN)
            assert time.monotonic() - started < 1.5
            assert response.status_code == 503, response.text
            problem = response.json()
            assert (problem["code"], problem["dependency"]) == ("unavailable", "rabbitmq")
            assert int(response.headers["Retry-After"]) >= 1
            # readiness reports the link as it is (a robust connection stays open meanwhile)
            await _broker_reported(api.client, connected=False)
            proxy.restore()
            await _answers_again(api.client)
            await _broker_reported(api.client, connected=True)
    finally:
        proxy.stop()


async def _broker_reported(client: httpx.AsyncClient, connected: bool) -> None:
    deadline = time.monotonic() + 15
    while (await client.get("/readyz")).json()["dependencies"]["rabbitmq"] != {
        "connected": connected
    }:
        assert time.monotonic() < deadline, f"readiness never reported connected={connected}"
        await asyncio.sleep(0.2)


async def _answers_again(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 30
    while (await client.get("/v1/admin/queues", headers=ADMIN)).status_code != 200:
        assert time.monotonic() < deadline, "the view did not recover with the broker"
        await asyncio.sleep(0.5)


def _boleto_worker(infra: Infra) -> WorkerDeps:
    """What boleto-sync's give-up hooks use: its repository and outbox relay (no bank)."""
    repo = BoletoRepository(infra.db)
    relay = OutboxRelay(repo.outbox, infra.broker)
    return WorkerDeps(repo, relay, infra.store, cast(Any, None), 1.0, 1.0)


async def _boleto(deps: WorkerDeps, codigo: str | None = None) -> tuple[str, str]:
    boleto_id = f"bol_{uuid.uuid4().hex[:8]}"
    job = sync_job("acme", boleto_id)
    created = now()
    await deps.repo.add(
        {
            "_id": boleto_id,
            "tenant": "acme",
            "status": "PROCESSING" if codigo else "PENDING",
            "inter": {"codigo_solicitacao": codigo} if codigo else {},
            "pdf": {"current": None, "versions": [], "sync_job_id": job["_id"]},
            "issue_attempts": 0,
            "error": None,
            "created_at": created,
            "updated_at": created,
        },
        job,
    )
    return boleto_id, job["_id"]


async def test_a_replayed_charge_issue_reopens_a_boleto_that_gave_up(infra: Infra) -> None:
    deps = _boleto_worker(infra)
    gave_up, job_id = await _boleto(deps)
    await issue_gave_up(ChargeIssueRequested(tenant_id="acme", boleto_id=gave_up), "boom", deps)
    refused, _ = await _boleto(deps)
    await deps.repo.update(refused, {"status": "FAILED", "error": {"code": "inter_rejected"}})

    for boleto_id in (gave_up, refused):
        await deps.repo.reopen_issue(boleto_id)
    reopened = await deps.repo.by_id(gave_up)
    assert reopened is not None and reopened["status"] == "PENDING"
    assert (reopened["error"], reopened["pdf"]["sync_job_id"]) == (None, job_id)
    job = await deps.repo.get_job("acme", job_id)
    assert job is not None and job["status"] == "queued"
    kept = await deps.repo.by_id(refused)
    assert kept is not None and kept["status"] == "FAILED"


async def test_a_replayed_pdf_sync_takes_its_slot_back_unless_another_holds_it(
    infra: Infra,
) -> None:
    deps = _boleto_worker(infra)
    free, free_job = await _boleto(deps, codigo="c-1")
    taken, taken_job = await _boleto(deps, codigo="c-2")
    for boleto_id, job_id in ((free, free_job), (taken, taken_job)):
        request = BoletoSyncRequested(tenant_id="acme", boleto_id=boleto_id, job_id=job_id)
        await sync_failed(request, "the bank timed out", deps)
    await deps.repo.update(taken, {"pdf.sync_job_id": "job_newer"})

    await deps.repo.reclaim_sync(free, free_job)
    await deps.repo.reclaim_sync(taken, taken_job)
    reclaimed, other = await deps.repo.by_id(free), await deps.repo.by_id(taken)
    assert reclaimed is not None and reclaimed["pdf"]["sync_job_id"] == free_job
    assert other is not None and other["pdf"]["sync_job_id"] == "job_newer"
    jobs = {job_id: await deps.repo.get_job("acme", job_id) for job_id in (free_job, taken_job)}
    assert {job_id: job["status"] for job_id, job in jobs.items() if job} == {
        free_job: "queued",
        taken_job: "failed",
    }


async def test_the_api_key_admin_actions_are_audited_without_the_key(
    upload: Api, logged: Logged
) -> None:
    created = await upload.client.post("/v1/admin/api-keys", json={"tenant": "acme"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    key_id, key = created.json()["id"], created.json()["key"]
    assert (await upload.client.delete(f"/v1/admin/api-keys/{key_id}", headers=ADMIN)).is_success
    again = await upload.client.delete(f"/v1/admin/api-keys/{key_id}", headers=ADMIN)
    assert again.status_code == 404
    assert key not in repr(logged)
    trail = [(a["action"], a["target"], a["result"]) for a in _audits(logged)]
    assert trail == [
        ("api_keys.create", "acme", "ok"),
        ("api_keys.revoke", key_id, "ok"),
        ("api_keys.revoke", key_id, "not_found"),
    ]
    assert _audits(logged)[0]["created_key_id"] == key_id


async def test_the_rate_limit_stats_are_audited(boleto: Api) -> None:
    with structlog.testing.capture_logs() as logged:
        response = await boleto.client.get("/v1/admin/rate-limit/stats", headers=ADMIN)
        refused = await boleto.client.get("/v1/admin/rate-limit/stats", headers=TENANT)
    assert (response.status_code, refused.status_code) == (200, 403)
    results = [(a["action"], a["result"]) for a in _audits(logged)]
    assert results == [("rate_limit.stats", "ok"), ("rate_limit.stats", "forbidden")]
