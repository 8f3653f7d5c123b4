"""The notifier through its public API: signed webhooks, retries, the live stream, its refusals."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from bootstrap import free_port
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from standardwebhooks.webhooks import Webhook
from system import System

from notifier.signing import verify
from tests.support.api import upload, wait_final
from tests.support.notifier import (
    completed,
    documented_verify,
    eventually,
    new_tenant,
    publish,
    receiver,
    sse,
)


class Tenant:
    def __init__(self, name: str, key: str, notifier: httpx.AsyncClient) -> None:
        self.name, self.key, self.notifier = name, key, notifier

    async def subscribe(self, url: str, events: list[str] | None = None) -> dict[str, str]:
        response = await self.notifier.post(
            "/v1/webhooks", json={"url": url, "events": events or ["conversion.*"]}
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def deliveries(self, webhook_id: str) -> list[dict[str, object]]:
        response = await self.notifier.get(f"/v1/webhooks/{webhook_id}/deliveries")
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]


@pytest.fixture
async def tenant(system: System) -> AsyncIterator[Tenant]:
    name, key = await new_tenant(system.base_url, system.admin_key)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=system.notifier_url, headers=headers, timeout=30) as c:
        yield Tenant(name, key, c)


async def test_one_conversion_gives_exactly_one_signed_cloudevent_delivery(
    system: System, tenant: Tenant, mpp_files: list[Path]
) -> None:
    async with receiver() as hook:
        webhook = await tenant.subscribe(hook.url, ["conversion.completed"])
        assert webhook["secret"].startswith("whsec_")
        async with httpx.AsyncClient(
            base_url=system.base_url, headers={"Authorization": f"Bearer {tenant.key}"}, timeout=60
        ) as api:
            job = await wait_final(api, (await upload(api, mpp_files[0])).json()["id"])
        assert job["status"] == "completed"
        await eventually(lambda: len(hook.requests) >= 1, 30, "the delivery")
        await asyncio.sleep(1.5)  # a duplicate would arrive in this window
    assert len(hook.requests) == 1
    delivery = hook.requests[0]
    # the official Standard Webhooks library, and our own helper for subscribers, agree
    Webhook(webhook["secret"]).verify(delivery.body, delivery.headers)
    verify(webhook["secret"], delivery.headers, delivery.body)
    documented = documented_verify()
    assert documented(webhook["secret"], delivery.headers, delivery.body)
    assert not documented(webhook["secret"], delivery.headers, delivery.body + b" ")
    event = from_http_event(HTTPMessage(headers=delivery.headers, body=delivery.body))
    assert event.get_type() == "conversion.completed.v1" and event.get_specversion() == "1.0"
    assert event.get_subject() == job["id"] and event.get_data()["job_id"] == job["id"]
    assert delivery.headers["webhook-id"] == event.get_id()
    [record] = await tenant.deliveries(webhook["id"])
    assert record["status"] == "delivered" and record["event_type"] == "conversion.completed"
    assert [a["status_code"] for a in record["attempts"]] == [204]  # type: ignore[union-attr]


async def test_a_receiver_failing_n_times_gets_attempt_n_plus_one_with_the_same_id(
    system: System, tenant: Tenant
) -> None:
    async with receiver(script=[500, 503, 429]) as hook:
        webhook = await tenant.subscribe(hook.url)
        await publish(system.env["RABBITMQ_URL"], completed(tenant.name))
        await eventually(lambda: len(hook.delivered()) == 1, 30, "the fourth attempt")
    assert [r.answered for r in hook.requests] == [500, 503, 429, 204]
    assert len({r.headers["webhook-id"] for r in hook.requests}) == 1
    assert len({r.body for r in hook.requests}) == 1  # the same event, signed afresh each time
    for request in hook.requests:
        Webhook(webhook["secret"]).verify(request.body, request.headers)
    [record] = await tenant.deliveries(webhook["id"])
    assert record["status"] == "delivered"
    attempts = record["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 503, 429, 204]  # type: ignore[union-attr]
    assert all(a["latency_ms"] > 0 for a in attempts)  # type: ignore[union-attr,index]


async def test_a_receiver_down_throughout_ends_failed_after_the_schedule(
    system: System, tenant: Tenant
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    webhook = await tenant.subscribe(dead)
    await publish(system.env["RABBITMQ_URL"], completed(tenant.name))
    for _ in range(200):
        records = await tenant.deliveries(webhook["id"])
        if records and records[0]["status"] == "failed":
            break
        await asyncio.sleep(0.1)
    [record] = records
    assert record["status"] == "failed" and record["next_attempt_at"] is None
    attempts = record["attempts"]
    assert len(attempts) == 4  # type: ignore[arg-type]  # the first attempt and 3 retries
    assert all(a["status_code"] is None and a["error"] for a in attempts)  # type: ignore[union-attr,index]


async def test_4xx_is_not_retried_and_redirects_are_not_followed(
    system: System, tenant: Tenant
) -> None:
    async with (
        receiver(then=410) as gone,
        receiver(
            then=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
        ) as moved,
    ):
        first = await tenant.subscribe(gone.url)
        second = await tenant.subscribe(moved.url)
        await publish(system.env["RABBITMQ_URL"], completed(tenant.name))
        await eventually(lambda: len(gone.requests) == 1 and len(moved.requests) == 1)
        await asyncio.sleep(1.5)  # a retry would come within the schedule
        assert len(gone.requests) == 1 and len(moved.requests) == 1
    for webhook, code in ((first, 410), (second, 302)):
        [record] = await tenant.deliveries(webhook["id"])
        assert record["status"] == "failed"
        assert [a["status_code"] for a in record["attempts"]] == [code]  # type: ignore[union-attr]
    assert "redirects are not followed" in str(record["error"])


async def test_retry_after_is_honoured(system: System, tenant: Tenant) -> None:
    async with receiver(script=[503], headers={"Retry-After": "2"}) as hook:
        await tenant.subscribe(hook.url)
        await publish(system.env["RABBITMQ_URL"], completed(tenant.name))
        await eventually(lambda: len(hook.delivered()) == 1, 30, "the retry")
    gap = hook.requests[1].at - hook.requests[0].at
    assert gap >= 1.9, gap  # the schedule alone would have retried after about 0.2 s


async def test_a_slow_receiver_does_not_delay_others(system: System, tenant: Tenant) -> None:
    async with receiver(then=0) as stuck, receiver() as healthy:
        await tenant.subscribe(stuck.url)
        await tenant.subscribe(healthy.url)
        await publish(system.env["RABBITMQ_URL"], *(completed(tenant.name) for _ in range(12)))
        await eventually(lambda: len(healthy.delivered()) == 12, 10, "the healthy receiver")
        # the stuck one holds only its own share of the slots (4 per endpoint)
        assert len(stuck.requests) <= 4


async def test_a_failing_endpoint_is_disabled_and_its_tenant_told(
    system: System, tenant: Tenant
) -> None:
    async with receiver(then=500) as failing, receiver() as watcher:
        broken = await tenant.subscribe(failing.url)
        await tenant.subscribe(watcher.url, ["webhook.endpoint.disabled"])
        await publish(system.env["RABBITMQ_URL"], completed(tenant.name), completed(tenant.name))
        await eventually(lambda: len(watcher.delivered()) == 1, 30, "the disabled event")
    body = watcher.delivered()[0].body
    assert b"webhook.endpoint.disabled" in body and broken["id"].encode() in body
    state = (await tenant.notifier.get(f"/v1/webhooks/{broken['id']}")).json()
    assert state["status"] == "disabled" and state["disabled"]["failures"] >= 6
    enabled = await tenant.notifier.post(f"/v1/webhooks/{broken['id']}/enable")
    assert enabled.status_code == 200 and enabled.json()["status"] == "enabled"


async def test_rotated_secret_signs_alongside_the_previous_one(
    system: System, tenant: Tenant
) -> None:
    async with receiver() as hook:
        webhook = await tenant.subscribe(hook.url)
        rotated = await tenant.notifier.post(f"/v1/webhooks/{webhook['id']}/rotate-secret")
        assert rotated.status_code == 200
        new_secret = rotated.json()["secret"]
        await asyncio.sleep(2.5)  # the worker's view of a subscription is cached for 2 s
        await publish(system.env["RABBITMQ_URL"], completed(tenant.name))
        await eventually(lambda: len(hook.delivered()) == 1)
    request = hook.requests[0]
    assert len(request.headers["webhook-signature"].split()) == 2
    Webhook(new_secret).verify(request.body, request.headers)
    Webhook(webhook["secret"]).verify(request.body, request.headers)


async def test_sse_through_a_replica_that_does_not_consume(
    system: System, tenant: Tenant, mpp_files: list[Path]
) -> None:
    port = free_port()
    system.start("notifier-api-2", ["notifier", "api"], port, {"NOTIFIER_PORT": str(port)})
    try:
        async with sse(f"http://127.0.0.1:{port}", tenant.key) as stream:
            assert stream.status == 200
            async with httpx.AsyncClient(
                base_url=system.base_url,
                headers={"Authorization": f"Bearer {tenant.key}"},
                timeout=60,
            ) as api:
                job_id = (await upload(api, mpp_files[1])).json()["id"]
            await eventually(
                lambda: any(data.get("subject") == job_id for _, _, data in stream.events),
                30,
                "the event on the second replica's stream",
            )
            await eventually(lambda: stream.comments >= 1, 5, "a heartbeat")
    finally:
        system.kill("notifier-api-2")
    [(event_id, kind, data)] = [e for e in stream.events if e[2].get("subject") == job_id]
    assert kind == "conversion.completed.v1" and data["data"]["job_id"] == job_id
    assert data["id"] == event_id


async def test_last_event_id_resumes_from_the_replay_window(system: System, tenant: Tenant) -> None:
    amqp = system.env["RABBITMQ_URL"]
    async with receiver() as hook:
        await tenant.subscribe(hook.url)  # its deliveries tell when the worker has the events
        async with sse(system.notifier_url, tenant.key) as stream:
            [first] = await publish(amqp, completed(tenant.name))
            await eventually(lambda: first in stream.ids(), 20, "the first event")
        missed = await publish(amqp, completed(tenant.name), completed(tenant.name))
        await eventually(lambda: len(hook.delivered()) == 3, 20, "the worker saw every event")
    # the same replica heard the missed events itself; a new one reads the replay window
    port = free_port()
    system.start("notifier-api-3", ["notifier", "api"], port, {"NOTIFIER_PORT": str(port)})
    try:
        for base_url in (system.notifier_url, f"http://127.0.0.1:{port}"):
            async with sse(base_url, tenant.key, last_event_id=first) as resumed:
                await eventually(lambda: len(resumed.ids()) >= 2, 10, "the missed events")
                await asyncio.sleep(0.5)
            assert resumed.ids() == missed, base_url
    finally:
        system.kill("notifier-api-3")


async def test_stream_filters_and_tenancy(system: System, tenant: Tenant) -> None:
    other_name, _ = await new_tenant(system.base_url, system.admin_key)
    async with sse(system.notifier_url, tenant.key, query="?events=conversion.failed") as stream:
        ids = await publish(
            system.env["RABBITMQ_URL"], completed(tenant.name), completed(other_name)
        )
        await asyncio.sleep(1.5)
    assert not set(ids) & set(stream.ids())
    bad = await tenant.notifier.get("/v1/events/stream?events=nope.*")
    assert bad.status_code == 422


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("http://172.16.5.4/hook", "private"),
        ("http://[::ffff:169.254.169.254]/hook", "link-local"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://0.0.0.0/hook", "address"),
        ("ftp://example.com/hook", "https"),
        ("http://user:pw@example.com/hook", "credentials"),
    ],
)
async def test_ssrf_targets_are_refused(tenant: Tenant, url: str, reason: str) -> None:
    response = await tenant.notifier.post("/v1/webhooks", json={"url": url, "events": ["*"]})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "invalid_webhook_url" and reason in problem["detail"]


async def test_loopback_is_refused_unless_configured(system: System, tenant: Tenant) -> None:
    port = free_port()
    system.start(
        "notifier-api-strict",
        ["notifier", "api"],
        port,
        {"NOTIFIER_PORT": str(port), "NOTIFIER_ALLOW_LOOPBACK": "false"},
    )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {tenant.key}"},
            timeout=30,
        ) as strict:
            for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/"):
                response = await strict.post("/v1/webhooks", json={"url": url, "events": ["*"]})
                assert response.status_code == 422, (url, response.text)
                assert "loopback" in response.json()["detail"]
    finally:
        system.kill("notifier-api-strict")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"events": ["conversion.completed"]}, "url"),
        ({"url": "https://example.com/h"}, "events"),
        ({"url": "https://example.com/h", "events": []}, "events"),
        ({"url": "https://example.com/h", "events": ["nothing.here"]}, "matches no event"),
        ({"url": "https://example.com/h", "events": ["Conversion completed!"]}, "not an event"),
        ({"url": "https://example.com/h", "events": ["*"], "extra": 1}, "extra"),
        ({"url": "x" * 3000, "events": ["*"]}, "url"),
    ],
)
async def test_bad_subscription_input_is_422_with_a_clear_message(
    tenant: Tenant, body: dict[str, object], field: str
) -> None:
    response = await tenant.notifier.post("/v1/webhooks", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_error" and field in str(problem["errors"])


async def test_another_tenants_webhook_answers_404(system: System, tenant: Tenant) -> None:
    async with receiver() as hook:
        webhook = await tenant.subscribe(hook.url)
    _, other_key = await new_tenant(system.base_url, system.admin_key)
    stranger = {"Authorization": f"Bearer {other_key}"}
    path = f"/v1/webhooks/{webhook['id']}"
    for method, suffix in (
        ("GET", ""),
        ("DELETE", ""),
        ("GET", "/deliveries"),
        ("POST", "/rotate-secret"),
        ("POST", "/enable"),
    ):
        response = await tenant.notifier.request(method, path + suffix, headers=stranger)
        assert response.status_code == 404, (method, suffix)
    listed = (await tenant.notifier.get("/v1/webhooks", headers=stranger)).json()["items"]
    assert listed == []
    mine = (await tenant.notifier.get("/v1/webhooks")).json()["items"]
    assert [w["id"] for w in mine] == [webhook["id"]] and "secret" not in mine[0]
    assert (await tenant.notifier.delete(path)).status_code == 204
    assert (await tenant.notifier.get(path)).status_code == 404
    async with httpx.AsyncClient(base_url=system.notifier_url) as anonymous:
        assert (await anonymous.get("/v1/webhooks")).status_code == 401
