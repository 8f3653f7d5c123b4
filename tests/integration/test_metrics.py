"""Messaging's metrics against a real RabbitMQ and SecantusDB: what subscribers count as they
handle messages, and what the samplers read from the broker and the outboxes."""

import asyncio
import uuid

import aio_pika
from prometheus_client import REGISTRY

from shared.bootstrap import Infra
from shared.clock import now
from shared.events import ConversionStarted
from shared.messaging import Broker, Delivery, OutboxRelay, Subscription, encode, outbox_entry
from shared.messaging.metrics import OutboxSampler, QueueSampler
from shared.messaging.repository import OutboxRepository


def _queue() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def _until(check: object, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "the counters never got there"
        await asyncio.sleep(0.05)


async def test_a_subscription_counts_each_outcome_its_redeliveries_and_handler_time(
    infra: Infra,
) -> None:
    queue = _queue()

    async def handle(event: ConversionStarted, delivery: Delivery) -> None:
        if event.job_id == "doomed":
            raise RuntimeError("always")

    sub = Subscription(infra.broker, queue, {ConversionStarted: handle}, max_attempts=2)
    sub.delays = [100]
    await sub.start()
    outcomes = ("acked", "retried", "dead_lettered", "held", "malformed")
    assert {o: value("messaging_messages_total", queue=queue, outcome=o) for o in outcomes} == {
        o: 0.0 for o in outcomes
    }
    await infra.broker.publish(encode(ConversionStarted(tenant_id="t", job_id="fine"), "/test"))
    await infra.broker.publish(encode(ConversionStarted(tenant_id="t", job_id="doomed"), "/test"))
    await infra.broker.publish_direct(queue, aio_pika.Message(b"{}", headers={}))
    await _until(lambda: value("messaging_messages_total", queue=queue, outcome="dead_lettered"))
    await _until(lambda: value("messaging_messages_total", queue=queue, outcome="malformed"))
    await sub.stop()
    counted = {o: value("messaging_messages_total", queue=queue, outcome=o) for o in outcomes}
    assert counted == {"acked": 1, "retried": 1, "dead_lettered": 1, "held": 0, "malformed": 1}
    assert value("messaging_redeliveries_total", queue=queue) == 1  # the retry of "doomed"
    # three handler runs: "fine" once, "doomed" twice; the malformed message reached none
    assert value("messaging_handler_duration_seconds_count", queue=queue) == 3


async def test_the_queue_sampler_reads_depth_and_consumers_and_drops_them_when_the_broker_goes(
    infra: Infra,
) -> None:
    queue = _queue()

    async def handle(event: ConversionStarted, delivery: Delivery) -> None:
        pass

    sub = Subscription(infra.broker, queue, {ConversionStarted: handle})
    await sub.start()
    sampler = QueueSampler(infra.broker, [queue])
    await sampler.sample()
    assert value("messaging_queue_consumers", queue=queue) == 1
    assert value("messaging_queue_consumers", queue=f"{queue}.dlq") == 0
    await sub.stop()
    for n in range(3):
        await infra.broker.publish(encode(ConversionStarted(tenant_id="t", job_id=f"{n}"), "/t"))
    await sampler.sample()
    assert value("messaging_queue_depth", queue=queue) == 3
    assert value("messaging_queue_consumers", queue=queue) == 0
    assert value("messaging_queue_depth", queue=f"{queue}.dlq") == 0

    away = Broker(infra.broker.url, infra.broker.exchange_name)  # never connected: an outage
    await QueueSampler(away, [queue]).sample()
    assert value("messaging_queue_depth", queue=queue) is None
    assert value("messaging_queue_depth", queue=f"{queue}.dlq") is None


async def test_the_outbox_sampler_counts_documents_with_unpublished_events(infra: Infra) -> None:
    name = f"outbox_{uuid.uuid4().hex[:8]}"
    outbox = OutboxRepository(infra.db[name])
    relay = OutboxRelay(outbox, infra.broker)
    assert value("outbox_published_total", collection=name) == 0
    entries = [
        outbox_entry(encode(ConversionStarted(tenant_id="t", job_id=f"j{n}"), "/test"))
        for n in range(3)
    ]
    await infra.db[name].insert_many(
        [
            {"_id": "a", "outbox": [entries[0]]},
            {"_id": "b", "outbox": [entries[1], entries[2]]},
            {"_id": "c", "outbox": []},
            {"_id": "d", "at": now()},
        ]
    )
    sampler = OutboxSampler([outbox])
    await sampler.sample()
    assert value("outbox_backlog", collection=name) == 2
    await relay.flush("b", [entries[1], entries[2]])
    await sampler.sample()
    assert value("outbox_backlog", collection=name) == 1
    assert value("outbox_published_total", collection=name) == 2
