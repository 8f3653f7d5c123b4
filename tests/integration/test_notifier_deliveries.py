"""Deliveries against real MongoDB and RabbitMQ: recorded once, leased, retried, e-mailed."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from bootstrap import free_port

from notifier.bootstrap import RepositoryDeps, dispatcher
from notifier.delivery.dispatcher import Dispatcher
from notifier.handlers import FanOutDeps, fan_out
from notifier.schemas import EmailSettings, WebhookCreate
from notifier.service import WebhookService
from notifier.settings import NotifierSettings
from notifier.targets import TargetPolicy
from shared.bootstrap import Infra
from shared.clock import now
from shared.messaging import Delivery
from tests.support.notifier import completed, eventually, receiver

TENANT = "t-notifier"


def settings(**overrides: Any) -> NotifierSettings:
    base: dict[str, Any] = {
        "retry_schedule_s": [0.1, 0.2],
        "retry_jitter": 0.0,
        "attempt_timeout_s": 1.0,
        "lease_margin_s": 0.5,
        "sweep_interval_s": 0.2,
        "allow_http": True,
        "allow_loopback": True,
        "smtp_host": "127.0.0.1",
        "smtp_port": free_port(),
        "smtp_allow_plain": True,
    }
    return NotifierSettings(**{**base, **overrides})


class Notifier:
    def __init__(self, infra: Infra, config: NotifierSettings) -> None:
        self.db = infra.db
        self.repos = RepositoryDeps.build(infra)
        self.config = config
        self.service = WebhookService(
            self.repos.subscriptions,
            self.repos.deliveries,
            TargetPolicy(allow_http=True, allow_loopback=True),
            timedelta(hours=1),
            timedelta(days=1),
            email_enabled=True,
        )
        self.dispatcher, self.webhooks = dispatcher(infra, self.repos, config)
        self.fan_out = FanOutDeps(
            self.repos.subscriptions,
            self.repos.deliveries,
            self.repos.replay,
            timedelta(hours=1),
            self.dispatcher,
        )

    async def subscribe(self, url: str) -> dict[str, Any]:
        return await self.service.create(TENANT, WebhookCreate(url=url, events=["conversion.*"]))

    async def event(self, event_id: str | None = None) -> str:
        event_id = event_id or str(uuid.uuid4())
        delivery = Delivery(event_id, 1, False, "/test", datetime.now(UTC))
        await fan_out(completed(TENANT), delivery, self.fan_out)
        return event_id

    async def deliveries(self) -> list[dict[str, Any]]:
        return await self.db["webhook_deliveries"].find().to_list(100)


@pytest.fixture
async def notifier(infra: Infra) -> AsyncIterator[Notifier]:
    built = Notifier(infra, settings())
    await built.repos.ensure_indexes()
    yield built
    await built.webhooks.client.aclose()


async def _running(sender: Dispatcher) -> asyncio.Task[None]:
    return asyncio.create_task(sender.run())


async def _stop(task: asyncio.Task[None], sender: Dispatcher) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await sender.drain()


async def _email_confirmed(notifier: Notifier) -> None:
    """E-mail on for the tenant, its recipient confirmed (test_mail_confirmation.py asks)."""
    await notifier.service.set_email(TENANT, EmailSettings(recipients=["a@example.com"]))
    await notifier.repos.subscriptions.confirm_recipient(f"em_{TENANT}", "a@example.com")


@contextlib.asynccontextmanager
async def _emailing(notifier: Notifier, smtp_handler: object) -> AsyncIterator[None]:
    """E-mail on for the tenant, an SMTP server with ``smtp_handler``, the dispatcher running."""
    controller = Controller(smtp_handler, hostname="127.0.0.1", port=notifier.config.smtp_port)
    controller.start()
    task = await _running(notifier.dispatcher)
    try:
        await _email_confirmed(notifier)
        yield
    finally:
        await _stop(task, notifier.dispatcher)
        controller.stop()


async def test_events_recorded_at_once_share_one_write_and_keep_one_copy_each(
    notifier: Notifier,
) -> None:
    """Concurrent handlers' replay records go in one insert; a redelivery inside the same
    batch, as across batches, leaves the first copy."""
    first = {"_id": "ev-1", "tenant": TENANT, "type": "t", "data": {"n": 1}, "at": now()}
    again = {**first, "data": {"n": 2}}
    other = {**first, "_id": "ev-2"}
    window = timedelta(hours=1)
    replay = notifier.repos.replay
    await asyncio.gather(*(replay.record(doc, window) for doc in (first, again, other)))
    kept = {d["_id"]: d["data"] async for d in notifier.db["notifier_replay"].find({})}
    assert kept == {"ev-1": {"n": 1}, "ev-2": {"n": 1}}


async def test_events_arriving_within_a_millisecond_replay_in_the_order_they_came(
    notifier: Notifier,
) -> None:
    """Handlers started together (as the consumer starts them, in arrival order) stamp the
    replay in that order, though MongoDB keeps only milliseconds and ids are random."""
    ids = [str(uuid.uuid4()) for _ in range(20)]
    await asyncio.gather(*(notifier.event(event_id) for event_id in ids))
    replayed = await notifier.repos.replay.after(TENANT, None, limit=100)
    assert [d["_id"] for d in replayed] == ids
    assert [d["_id"] for d in await notifier.repos.replay.after(TENANT, ids[9], 100)] == ids[10:]


async def test_a_redelivered_event_records_one_delivery_per_subscription(
    notifier: Notifier,
) -> None:
    first = await notifier.subscribe("http://127.0.0.1:9/a")
    second = await notifier.subscribe("http://127.0.0.1:9/b")
    event_id = await notifier.event()
    await notifier.event(event_id)  # the broker redelivers it
    docs = await notifier.deliveries()
    assert sorted(d["subscription_id"] for d in docs) == sorted([first["_id"], second["_id"]])
    assert {d["msg_id"] for d in docs} == {event_id}
    assert await notifier.db["notifier_replay"].count_documents({}) == 1


async def test_a_lease_is_held_by_one_worker_until_it_expires(notifier: Notifier) -> None:
    await notifier.subscribe("http://127.0.0.1:9/a")
    await notifier.event()  # recorded leased to the worker that fanned it out (no dispatcher runs)
    [doc] = await notifier.deliveries()
    deliveries = notifier.repos.deliveries
    assert doc["lease"] == notifier.dispatcher.token
    assert await deliveries.due(10) == []
    assert await deliveries.claim(doc["_id"], "worker-b", now() + timedelta(seconds=5)) is None
    await asyncio.sleep(1.6)  # that worker died: its lease (1.5 s here) runs out
    assert [d["_id"] for d in await deliveries.due(10)] == [doc["_id"]]
    claimed = await deliveries.claim(doc["_id"], "worker-b", now() + timedelta(seconds=5))
    assert claimed is not None and claimed["lease"] == "worker-b"
    assert await deliveries.claim(doc["_id"], "worker-c", now() + timedelta(seconds=5)) is None
    late = await deliveries.settle(
        doc["_id"], notifier.dispatcher.token, {"status": "failed"}, None
    )
    assert late is False  # the dead worker's late outcome cannot overwrite B's attempt
    assert await deliveries.renew(doc["_id"], notifier.dispatcher.token, now()) is False


async def test_concurrent_fan_outs_and_outcomes_are_batched_each_caller_told_its_own(
    notifier: Notifier,
) -> None:
    mine = await notifier.subscribe("http://127.0.0.1:9/mine")
    other = await notifier.service.create(
        "t-other", WebhookCreate(url="http://127.0.0.1:9/other", events=["conversion.*"])
    )
    ids = [str(uuid.uuid4()) for _ in range(6)]
    events = [
        (completed(TENANT if i % 2 else "t-other"), event_id) for i, event_id in enumerate(ids)
    ]
    at = datetime.now(UTC)
    await asyncio.gather(
        *(fan_out(e, Delivery(i, 1, False, "/test", at), notifier.fan_out) for e, i in events),
        notifier.event(ids[1]),  # a redelivery racing its original in the same batch
    )
    docs = await notifier.deliveries()
    assert sorted((d["msg_id"], d["subscription_id"]) for d in docs) == sorted(
        (i, (mine if n % 2 else other)["_id"]) for n, i in enumerate(ids)
    )
    deliveries = notifier.repos.deliveries
    token = notifier.dispatcher.token
    stolen = docs[0]["_id"]  # its lease ran out and another worker holds it now
    await notifier.db["webhook_deliveries"].update_one({"_id": stolen}, {"$set": {"lease": "b"}})
    outcomes = await asyncio.gather(
        *(deliveries.settle(d["_id"], token, {"status": "delivered"}, None) for d in docs)
    )
    assert dict(zip([d["_id"] for d in docs], outcomes, strict=True)) == {
        d["_id"]: d["_id"] != stolen for d in docs
    }
    renewed = await asyncio.gather(
        *(deliveries.renew(d["_id"], "b", now() + timedelta(seconds=5)) for d in docs)
    )
    assert renewed == [d["_id"] == stolen for d in docs]


async def test_retries_until_delivered_each_attempt_recorded(notifier: Notifier) -> None:
    async with receiver(script=[500, 502]) as hook:
        await notifier.subscribe(hook.url)
        task = await _running(notifier.dispatcher)
        try:
            await notifier.event()
            await eventually(lambda: len(hook.delivered()) == 1, 10, "the third attempt")
            await asyncio.sleep(0.2)
        finally:
            await _stop(task, notifier.dispatcher)
    [doc] = await notifier.deliveries()
    assert doc["status"] == "delivered" and doc["lease"] is None and doc["expires_at"]
    assert [a["status_code"] for a in doc["attempts"]] == [500, 502, 204]
    gaps = [b.at - a.at for a, b in zip(hook.requests, hook.requests[1:], strict=False)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19


async def test_a_dead_endpoint_fails_then_is_disabled_through_the_outbox(infra: Infra) -> None:
    notifier = Notifier(infra, settings(disable_after_failures=5, disable_after_s=0))
    await notifier.repos.ensure_indexes()
    webhook = await notifier.subscribe(f"http://127.0.0.1:{free_port()}/gone")
    task = await _running(notifier.dispatcher)
    try:
        await notifier.event()
        await notifier.event()
        for _ in range(100):
            sub = await notifier.db["webhook_subscriptions"].find_one({"_id": webhook["_id"]})
            docs = await notifier.deliveries()
            settled = len(docs) == 2 and all(d["status"] != "pending" for d in docs)
            if sub and sub["status"] == "disabled" and not sub.get("outbox") and settled:
                break
            await asyncio.sleep(0.1)
    finally:
        await _stop(task, notifier.dispatcher)
        await notifier.webhooks.client.aclose()
    assert sub is not None and sub["status"] == "disabled"
    assert sub["disabled"]["failures"] >= 5 and sub.get("outbox") == []  # published, then pulled
    assert {d["status"] for d in docs} == {"failed"}


async def test_completion_email_through_a_real_smtp_server(notifier: Notifier) -> None:
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            received.append(envelope.content)
            return "250 OK"

    async with _emailing(notifier, Handler()):
        event_id = await notifier.event()
        await eventually(lambda: len(received) == 1, 10, "the e-mail")
    message = message_from_bytes(received[0])
    assert message["To"] == "a@example.com" and "completed" in str(message["Subject"])
    assert event_id in str(message["Message-ID"])
    [doc] = await notifier.deliveries()
    assert doc["channel"] == "email" and doc["status"] == "delivered"


async def test_an_smtp_refusal_is_final(notifier: Notifier) -> None:
    refused: list[bytes] = []

    class Refusing:
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            refused.append(envelope.content)
            return "554 5.7.1 message refused"

    async with _emailing(notifier, Refusing()):
        await notifier.event()
        doc = await _failed(notifier)
        await asyncio.sleep(0.5)  # past the whole retry schedule (0.1 s, 0.2 s)
    assert [a["status_code"] for a in doc["attempts"]] == [554]
    assert len(refused) == 1  # never sent again


async def test_a_refusal_of_every_recipient_is_final(notifier: Notifier) -> None:
    asked: list[str] = []

    class RefusingRecipients:
        async def handle_RCPT(
            self, server: object, session: object, envelope: Any, address: str, options: Any
        ) -> str:
            asked.append(address)
            return "550 5.1.1 no such mailbox"

    async with _emailing(notifier, RefusingRecipients()):
        await notifier.event()
        doc = await _failed(notifier)
        await asyncio.sleep(0.5)  # past the whole retry schedule (0.1 s, 0.2 s)
    assert [a["status_code"] for a in doc["attempts"]] == [550]
    assert asked == ["a@example.com"]  # never asked again


async def test_an_smtp_outage_is_retried_then_fails(notifier: Notifier) -> None:
    await _email_confirmed(notifier)
    task = await _running(notifier.dispatcher)
    try:
        await notifier.event()  # no SMTP server listens: a network error, retried, then failed
        doc = await _failed(notifier)
    finally:
        await _stop(task, notifier.dispatcher)
    assert len(doc["attempts"]) == 3


async def _failed(notifier: Notifier) -> dict[str, Any]:
    """The one delivery, once it has failed for good."""
    for _ in range(100):
        [doc] = await notifier.deliveries()
        if doc["status"] == "failed":
            return doc
        await asyncio.sleep(0.1)
    raise AssertionError(f"the delivery did not fail: {doc}")


async def test_receiver_helper_counts_only_answered_requests() -> None:
    async with receiver(script=[500, 204, 0, 302]) as hook, httpx.AsyncClient(timeout=1) as client:
        for _ in range(4):
            with contextlib.suppress(httpx.ReadTimeout):  # 0: the receiver never answers
                await client.post(hook.url, content=b"{}")
    assert [r.answered for r in hook.requests] == [500, 204, 0, 302]
    assert [r.answered for r in hook.delivered()] == [204]


async def test_a_stopping_worker_hands_back_what_it_had_queued(notifier: Notifier) -> None:
    await notifier.subscribe("http://127.0.0.1:9/a")
    await notifier.event()
    assert await notifier.repos.deliveries.due(10) == []  # leased to this worker, queued
    await notifier.dispatcher.drain()
    [doc] = await notifier.repos.deliveries.due(10)  # the next worker need not wait
    assert (await notifier.repos.deliveries.get(doc["_id"]))["lease"] is None  # type: ignore[index]
