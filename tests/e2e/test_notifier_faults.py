"""The notifier killed or restarted at the worst moments: no delivery lost, none doubled."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from system import System

from tests.support.notifier import (
    completed,
    eventually,
    new_tenant,
    publish,
    receiver,
    restart_worker,
)


@pytest.fixture
async def notifier(system: System) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    name, key = await new_tenant(system.base_url, system.admin_key)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=system.notifier_url, headers=headers, timeout=30) as c:
        yield name, c


async def _subscribe(client: httpx.AsyncClient, url: str) -> dict[str, str]:
    response = await client.post("/v1/webhooks", json={"url": url, "events": ["conversion.*"]})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _record(client: httpx.AsyncClient, webhook_id: str) -> dict[str, object]:
    [record] = (await client.get(f"/v1/webhooks/{webhook_id}/deliveries")).json()["items"]
    return record  # type: ignore[no-any-return]


async def test_sigkill_mid_attempt_delivers_after_restart_once(
    system: System, notifier: tuple[str, httpx.AsyncClient]
) -> None:
    tenant, client = notifier
    async with receiver(script=[0]) as hook:  # the first request is never answered
        webhook = await _subscribe(client, hook.url)
        await publish(system.env["RABBITMQ_URL"], completed(tenant))
        await eventually(lambda: len(hook.requests) == 1, 20, "the first attempt")
        restart_worker(system)  # SIGKILL while the attempt is in flight
        await eventually(lambda: len(hook.delivered()) == 1, 30, "the attempt after restart")
        await asyncio.sleep(1.5)
    assert len(hook.delivered()) == 1
    assert len({r.headers["webhook-id"] for r in hook.requests}) == 1
    Webhook(webhook["secret"]).verify(hook.delivered()[0].body, hook.delivered()[0].headers)
    assert (await _record(client, webhook["id"]))["status"] == "delivered"


async def test_events_published_while_the_worker_is_down_are_delivered_once(
    system: System, notifier: tuple[str, httpx.AsyncClient]
) -> None:
    tenant, client = notifier
    async with receiver() as hook:
        webhook = await _subscribe(client, hook.url)
        system.kill("notifier-worker")
        try:
            ids = await publish(system.env["RABBITMQ_URL"], completed(tenant), completed(tenant))
        finally:
            restart_worker(system, kill=False)
        await eventually(lambda: len(hook.requests) == 2, 30, "both events")
        await asyncio.sleep(1.5)
    assert sorted(r.headers["webhook-id"] for r in hook.requests) == sorted(ids)
    items = (await client.get(f"/v1/webhooks/{webhook['id']}/deliveries")).json()["items"]
    assert [i["status"] for i in items] == ["delivered", "delivered"]


async def test_restart_mid_schedule_loses_no_pending_retry(
    system: System, notifier: tuple[str, httpx.AsyncClient]
) -> None:
    tenant, client = notifier
    async with receiver(script=[503], headers={"Retry-After": "4"}) as hook:
        webhook = await _subscribe(client, hook.url)
        await publish(system.env["RABBITMQ_URL"], completed(tenant))
        await eventually(lambda: len(hook.requests) == 1, 20, "the first attempt")
        # its retry is now due about 4 s ahead, recorded in the database only
        restart_worker(system)
        await eventually(lambda: len(hook.delivered()) == 1, 30, "the retry after restart")
        await asyncio.sleep(1.0)
    assert [r.answered for r in hook.requests] == [503, 204]
    assert hook.requests[0].headers["webhook-id"] == hook.requests[1].headers["webhook-id"]
    record = await _record(client, webhook["id"])
    assert record["status"] == "delivered"
    assert [a["status_code"] for a in record["attempts"]] == [503, 204]  # type: ignore[attr-defined]


async def test_sigkill_with_deliveries_recorded_but_not_yet_attempted(
    system: System, notifier: tuple[str, httpx.AsyncClient]
) -> None:
    tenant, client = notifier
    async with receiver(script=[0, 0, 0, 0]) as hook:  # 4 attempts hang: the endpoint is full
        await _subscribe(client, hook.url)
        ids = await publish(system.env["RABBITMQ_URL"], *(completed(tenant) for _ in range(5)))
        await eventually(lambda: len(hook.requests) == 4, 20, "the endpoint's 4 slots taken")
        waiting = set(ids) - {r.headers["webhook-id"] for r in hook.requests}
        await asyncio.sleep(0.5)  # the fifth is recorded and queued behind them
        restart_worker(system)  # SIGKILL
        await eventually(lambda: len(hook.delivered()) == 5, 30, "every event after restart")
        await asyncio.sleep(1.5)
    assert {r.headers["webhook-id"] for r in hook.delivered()} == set(ids)
    [late] = waiting
    assert [r.answered for r in hook.requests if r.headers["webhook-id"] == late] == [204]
