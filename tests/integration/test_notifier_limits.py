"""The notifier's share of the tenant limits and its SSRF edges, through its HTTP API served
by uvicorn (two replicas on one database where it matters), on real RabbitMQ and SecantusDB."""

import asyncio
import contextlib
import gc
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from notifier.bootstrap import RepositoryDeps, dispatcher
from notifier.handlers import FanOutDeps, fan_out
from notifier.repository.streams import StreamSlots
from notifier.schemas import WebhookCreate
from notifier.service import WebhookService
from notifier.settings import NotifierSettings
from notifier.stream import LiveStream, StreamHub
from notifier.targets import TargetPolicy
from shared.bootstrap import Infra
from shared.clock import now
from shared.messaging import Delivery
from shared.settings import InfraSettings
from tests.support.notifier import completed, eventually, receiver, sse
from tests.support.notifier_api import notifier_replica

KEY = f"sk_notifier_{uuid.uuid4().hex}"
AUTH = {"Authorization": f"Bearer {KEY}"}
TENANT = "dev"  # the tenant of the configured development key


def _settings() -> NotifierSettings:
    return NotifierSettings(
        allow_http=True,
        allow_loopback=True,
        heartbeat_s=0.5,
        retry_schedule_s=[0.1],
        retry_jitter=0.0,
        attempt_timeout_s=2.0,
        sweep_interval_s=0.2,
    )


def _replica(infra_settings: InfraSettings) -> contextlib.AbstractAsyncContextManager[str]:
    return notifier_replica(infra_settings, _settings(), KEY)


async def _limit(infra: Infra, **limits: int) -> None:
    await infra.tenants.update(TENANT, limits)


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def test_webhooks_beyond_the_tenants_limit_are_refused(
    infra: Infra, infra_settings: InfraSettings
) -> None:
    await _limit(infra, webhooks=2)
    async with (
        _replica(infra_settings) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as api,
    ):
        body = {"url": "http://127.0.0.1:9/hook", "events": ["conversion.*"]}
        created = [await api.post("/v1/webhooks", json=body) for _ in range(2)]
        assert [r.status_code for r in created] == [201, 201]
        refused = _problem(await api.post("/v1/webhooks", json=body), 409, "webhook_limit_reached")
        assert "2 webhooks" in refused["detail"]
        assert len((await api.get("/v1/webhooks")).json()["items"]) == 2
        gone = await api.delete(f"/v1/webhooks/{created[0].json()['id']}")
        assert gone.status_code == 204
        assert (await api.post("/v1/webhooks", json=body)).status_code == 201


@pytest.mark.parametrize(
    "target, reason",
    [
        ("https://[::10.0.0.1]/h", "private"),
        ("https://[64:ff9b::a9fe:a9fe]/h", "link-local"),
        ("https://[2002:a00:1::1]/h", "private"),
        ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/h", "Teredo"),
        ("https://93.184.216.34:6379/h", "port 6379"),
    ],
)
async def test_the_api_refuses_internal_addresses_in_ipv6_forms_and_odd_ports(
    infra_settings: InfraSettings, target: str, reason: str
) -> None:
    async with (
        _replica(infra_settings) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as api,
    ):
        response = await api.post("/v1/webhooks", json={"url": target, "events": ["*"]})
        assert reason in _problem(response, 422, "invalid_webhook_url")["detail"]
        assert (await api.get("/v1/webhooks")).json()["items"] == []


async def _stream_status(base_url: str) -> int | None:
    async with sse(base_url, KEY) as stream:
        return stream.status


async def test_event_streams_beyond_the_tenants_limit_are_refused_across_replicas(
    infra: Infra, infra_settings: InfraSettings
) -> None:
    await _limit(infra, sse_connections=2)
    async with _replica(infra_settings) as one, _replica(infra_settings) as two:
        async with sse(one, KEY) as first, sse(two, KEY) as second:
            assert (first.status, second.status) == (200, 200)
            for replica in (one, two):
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.get(f"{replica}/v1/events/stream", headers=AUTH)
                body = _problem(response, 429, "stream_limit_reached")
                assert "2 event streams" in body["detail"]
                assert response.headers["retry-after"] == "30"
        # both closed: their slots are given back
        statuses: list[int | None] = []
        for _ in range(50):
            statuses.append(await _stream_status(two))
            if statuses[-1] == 200:
                break
            await asyncio.sleep(0.2)
        assert statuses[-1] == 200, statuses


async def test_a_url_subscribed_many_times_gets_one_post_per_event(
    infra: Infra, infra_settings: InfraSettings
) -> None:
    config = _settings()
    repos = RepositoryDeps.build(infra)
    await repos.ensure_indexes()
    loopback = TargetPolicy(allow_http=True, allow_loopback=True)
    service = WebhookService(
        repos.subscriptions,
        repos.deliveries,
        loopback,
        timedelta(hours=1),
        timedelta(days=1),
        email_enabled=False,
        tenants=infra.tenants,
    )
    sending, webhooks = dispatcher(infra, repos, config)
    deps = FanOutDeps(
        repos.subscriptions,
        repos.deliveries,
        repos.replay,
        timedelta(hours=1),
        sending,
        infra.tenants,
    )
    task = asyncio.create_task(sending.run())
    try:
        async with receiver() as busy, receiver() as other:
            for _ in range(15):
                await service.create(TENANT, WebhookCreate(url=busy.url, events=["*"]))
            # the same URL with its scheme in capitals is the same receiver
            shouted = busy.url.replace("http://", "HTTP://")
            await service.create(TENANT, WebhookCreate(url=shouted, events=["*"]))
            await service.create(TENANT, WebhookCreate(url=other.url, events=["conversion.*"]))
            for _ in range(3):
                event = Delivery(str(uuid.uuid4()), 1, False, "/test", datetime.now(UTC))
                await fan_out(completed(TENANT), event, deps)
            await eventually(lambda: len(other.delivered()) == 3, 15, "three events delivered")
            await asyncio.sleep(1.0)  # room for any extra POST to arrive
            assert len(busy.requests) == 3
            assert len({r.headers["webhook-id"] for r in busy.requests}) == 3
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sending.drain()
        await webhooks.client.aclose()


async def test_an_event_reaches_at_most_the_tenants_webhook_limit_of_receivers(
    infra: Infra,
) -> None:
    """Subscriptions made before a lower limit (or written around the API) do not multiply
    an event beyond it: the oldest ones get it."""
    repos = RepositoryDeps.build(infra)
    await repos.ensure_indexes()
    await _limit(infra, webhooks=3)
    created = now()
    for n in range(8):
        await repos.subscriptions.add(
            {
                "_id": f"wh_{n}",
                "tenant": TENANT,
                "channel": "webhook",
                "url": f"https://hooks{n}.example/h",
                "events": ["*"],
                "status": "enabled",
                "secrets": [{"secret": "whsec_AAAA", "expires_at": None}],
                "created_at": created + timedelta(seconds=n),
                "updated_at": created,
            }
        )

    class Held:
        def hold(self) -> tuple[str, datetime]:
            return "nobody", now() + timedelta(hours=1)

        def submit(self, docs: list[dict[str, Any]]) -> None:
            pass

    deps = FanOutDeps(
        repos.subscriptions,
        repos.deliveries,
        repos.replay,
        timedelta(hours=1),
        Held(),
        infra.tenants,
    )
    event = Delivery(str(uuid.uuid4()), 1, False, "/test", datetime.now(UTC))
    await fan_out(completed(TENANT), event, deps)
    docs = await infra.db["webhook_deliveries"].find({}, {"subscription_id": 1}).to_list(100)
    assert sorted(d["subscription_id"] for d in docs) == ["wh_0", "wh_1", "wh_2"]


async def test_a_stream_body_never_started_gives_its_place_back(infra: Infra) -> None:
    """A request cancelled between the limit check and its first byte leaves nothing held:
    its client leaves the hub and its slot is no longer renewed (its lease lapses)."""
    slots = StreamSlots(infra.db, period_s=0.1)
    hub = StreamHub(10)
    stream = LiveStream(hub, RepositoryDeps.build(infra).replay, 10, 1.0, slots, infra.tenants)
    body = await stream.open(TENANT, [], None)
    assert len(slots._held) == 1 and hub._clients[TENANT]
    del body
    gc.collect()
    assert slots._held == set() and TENANT not in hub._clients
