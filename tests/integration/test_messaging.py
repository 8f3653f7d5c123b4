"""The messaging layer against a real RabbitMQ: confirms, retries with backoff, DLQ, outbox."""

import asyncio
import itertools
import uuid
from datetime import timedelta
from typing import Any

import aio_pika
import pytest

from shared.bootstrap import Infra
from shared.clock import now
from shared.events import ConversionFailed, ConversionStarted
from shared.messaging import (
    Broker,
    Delivery,
    OutboxRelay,
    PermanentError,
    Subscription,
    encode,
    outbox_entry,
)
from shared.messaging.repository import OutboxRepository
from tests.support.notifier import eventually


def _queue() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


async def _drain(
    infra: Infra, queue: str, timeout: float = 5.0
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    channel = await infra.broker.connection.channel()
    q = await channel.get_queue(queue, ensure=True)
    messages = []
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await q.get(fail=False)
        if message is None:
            if messages:
                break
            await asyncio.sleep(0.1)
            continue
        await message.ack()
        messages.append(message)
    await channel.close()
    return messages


async def test_published_event_reaches_its_subscriber_with_the_same_id(infra: Infra) -> None:
    received: list[tuple[ConversionStarted, Delivery]] = []
    done = asyncio.Event()

    async def handle(event: ConversionStarted, delivery: Delivery) -> None:
        received.append((event, delivery))
        done.set()

    sub = Subscription(infra.broker, _queue(), {ConversionStarted: handle})
    await sub.start()
    envelope = encode(ConversionStarted(tenant_id="t1", job_id="cv_1"), "/test")
    await infra.broker.publish(envelope)
    await asyncio.wait_for(done.wait(), 10)
    await sub.stop()
    event, delivery = received[0]
    assert event == ConversionStarted(tenant_id="t1", job_id="cv_1")
    assert delivery.event_id == envelope.id
    assert delivery.attempt == 1


async def test_failing_handler_is_retried_with_backoff_until_it_succeeds(infra: Infra) -> None:
    attempts: list[float] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def flaky(event: ConversionStarted, delivery: Delivery) -> None:
        attempts.append(loop.time())
        if delivery.attempt < 3:
            raise RuntimeError("transient")
        done.set()

    sub = Subscription(
        infra.broker, _queue(), {ConversionStarted: flaky}, max_attempts=3, base_delay_ms=200
    )
    await sub.start()
    await infra.broker.publish(encode(ConversionStarted(tenant_id="t", job_id="j"), "/test"))
    await asyncio.wait_for(done.wait(), 15)
    await sub.stop()
    assert len(attempts) == 3
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38  # 200 ms, then 400 ms


async def test_exhausted_retries_dead_letter_and_report_the_reason(infra: Infra) -> None:
    queue = _queue()
    dead: list[tuple[str, str]] = []

    async def broken(event: ConversionStarted, delivery: Delivery) -> None:
        raise RuntimeError("always")

    async def on_dead(event: ConversionStarted, reason: str) -> None:  # type: ignore[override]
        dead.append((event.job_id, reason))

    sub = Subscription(
        infra.broker,
        queue,
        {ConversionStarted: broken},
        max_attempts=2,
        base_delay_ms=100,
        on_dead=on_dead,
    )  # type: ignore[arg-type]
    await sub.start()
    await infra.broker.publish(encode(ConversionStarted(tenant_id="t", job_id="j9"), "/test"))
    letters = await _drain(infra, f"{queue}.dlq", timeout=15)
    await sub.stop()
    assert dead == [("j9", "RuntimeError: always")]
    assert len(letters) == 1
    assert letters[0].headers["x-death-reason"] == "RuntimeError: always"


async def test_permanent_error_goes_to_the_dlq_without_retries(infra: Infra) -> None:
    queue = _queue()
    calls = 0

    async def refuse(event: ConversionStarted, delivery: Delivery) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("bad data")

    sub = Subscription(infra.broker, queue, {ConversionStarted: refuse}, max_attempts=5)
    await sub.start()
    await infra.broker.publish(encode(ConversionStarted(tenant_id="t", job_id="j"), "/test"))
    letters = await _drain(infra, f"{queue}.dlq", timeout=10)
    await sub.stop()
    assert calls == 1 and len(letters) == 1


@pytest.mark.parametrize(
    "body, headers",
    [
        (
            b"not json",
            {
                "ce-id": "1",
                "ce-source": "/x",
                "ce-type": "conversion.started.v1",
                "ce-specversion": "1.0",
            },
        ),
        (
            b'{"tenant_id": "t"}',
            {
                "ce-id": "1",
                "ce-source": "/x",
                "ce-type": "conversion.started.v1",
                "ce-specversion": "1.0",
            },
        ),
        (
            b'{"tenant_id": "t", "job_id": "j"}',
            {"ce-id": "1", "ce-source": "/x", "ce-type": "nope.v1", "ce-specversion": "1.0"},
        ),
        (b"{}", {}),
    ],
)
async def test_malformed_messages_are_dead_lettered_and_the_consumer_keeps_going(
    infra: Infra, body: bytes, headers: dict[str, str]
) -> None:
    queue = _queue()
    good = asyncio.Event()

    async def handle(event: ConversionStarted, delivery: Delivery) -> None:
        good.set()

    sub = Subscription(infra.broker, queue, {ConversionStarted: handle})
    await sub.start()
    bad = aio_pika.Message(body, headers=headers, content_type="application/json")  # type: ignore[arg-type]
    await infra.broker.publish_direct(queue, bad)
    await infra.broker.publish(encode(ConversionStarted(tenant_id="t", job_id="ok"), "/test"))
    await asyncio.wait_for(good.wait(), 10)
    letters = await _drain(infra, f"{queue}.dlq")
    await sub.stop()
    assert [m.body for m in letters] == [body]
    assert "x-death-reason" in letters[0].headers


async def test_outbox_relay_publishes_pending_entries_once_and_clears_them(infra: Infra) -> None:
    collection = infra.db["outbox_test"]
    outbox = OutboxRepository(collection)
    await outbox.ensure_indexes()
    relay = OutboxRelay(outbox, infra.broker)
    seen: list[str] = []

    async def handle(event: ConversionFailed, delivery: Delivery) -> None:
        seen.append(delivery.event_id)

    sub = Subscription(infra.broker, _queue(), {ConversionFailed: handle})
    await sub.start()
    envelope = encode(
        ConversionFailed(tenant_id="t", job_id="j", code="internal", message="x"), "/test"
    )
    # a writer that crashed right after its write: the entry is stored, never published
    await collection.insert_one(
        {"_id": "doc1", "state": "failed", "outbox": [outbox_entry(envelope)]}
    )
    assert (
        await relay.sweep(older_than=timedelta(seconds=5)) == 0
    )  # too recent: the writer may still flush
    await collection.update_one(
        {"_id": "doc1"}, {"$set": {"outbox.0.queued_at": now() - timedelta(seconds=10)}}
    )
    patient = OutboxRelay(outbox, infra.broker, abandoned_after=timedelta(seconds=60))
    assert await patient.sweep() == 0  # its writers may take a minute: not abandoned yet
    assert await relay.sweep(older_than=timedelta(0)) == 1
    assert await relay.sweep(older_than=timedelta(0)) == 0
    for _ in range(50):
        if seen:
            break
        await asyncio.sleep(0.1)
    await sub.stop()
    assert seen == [envelope.id]
    assert (await collection.find_one({"_id": "doc1"}))["outbox"] == []


async def test_a_write_whose_event_cannot_be_published_now_leaves_it_to_the_sweep(
    infra: Infra,
) -> None:
    outbox = OutboxRepository(infra.db["outbox_defer_test"])
    envelope = encode(ConversionStarted(tenant_id="t", job_id="j"), "/test")
    await infra.db["outbox_defer_test"].insert_one(
        {"_id": "doc", "outbox": [outbox_entry(envelope)]}
    )
    away = Broker(infra.settings.rabbitmq_url, infra.settings.events_exchange)
    await away.connect()
    await away.close()  # the broker went away after the write

    assert not await OutboxRelay(outbox, away).flush_or_defer("doc", [outbox_entry(envelope)])
    assert [doc async for doc in outbox.pending(now() + timedelta(seconds=1), 10)] != []

    assert await OutboxRelay(outbox, infra.broker).flush_or_defer("doc", [outbox_entry(envelope)])
    assert [doc async for doc in outbox.pending(now() + timedelta(seconds=1), 10)] == []


class CountingOutbox(OutboxRepository):
    """The real repository over a real collection, counting the clearing writes."""

    writes = 0

    async def remove(self, doc_id: Any, entry_ids: list[str]) -> None:
        self.writes += 1
        await super().remove(doc_id, entry_ids)

    async def remove_many(self, published: dict[Any, list[str]]) -> None:
        self.writes += 1
        await super().remove_many(published)


async def test_a_hot_path_relay_clears_many_documents_in_one_write(infra: Infra) -> None:
    collection = infra.db["outbox_batch_test"]
    outbox = CountingOutbox(collection)
    relay = OutboxRelay(outbox, infra.broker, clear_every_s=2.0)  # one window for all five
    entries = {
        f"doc{i}": outbox_entry(encode(ConversionStarted(tenant_id="t", job_id=f"j{i}"), "/test"))
        for i in range(5)
    }
    for doc_id, entry in entries.items():
        await collection.insert_one({"_id": doc_id, "outbox": [entry]})
    for doc_id, entry in entries.items():
        await relay.flush(doc_id, [entry])
    await relay.drain()  # waits for the window's one write
    assert outbox.writes == 1
    assert [d["outbox"] async for d in collection.find({})] == [[]] * 5


async def test_a_delayed_relay_clears_only_what_is_due_and_drains_the_rest_at_once(
    infra: Infra,
) -> None:
    """``clear_after_s``: an entry stays until it is due, so a later write of its document
    can clear it first; at shutdown the rest is cleared at once, due or not."""
    collection = infra.db["outbox_delay_test"]
    outbox = CountingOutbox(collection)
    entries = {
        f"doc{i}": outbox_entry(encode(ConversionStarted(tenant_id="t", job_id=f"j{i}"), "/test"))
        for i in range(3)
    }
    for doc_id, entry in entries.items():
        await collection.insert_one({"_id": doc_id, "outbox": [entry]})
    soon = OutboxRelay(outbox, infra.broker, clear_every_s=0.05, clear_after_s=0.2)
    late = OutboxRelay(outbox, infra.broker, clear_every_s=0.05, clear_after_s=600)

    await soon.flush("doc0", [entries["doc0"]])
    for doc_id in ("doc1", "doc2"):
        await late.flush(doc_id, [entries[doc_id]])
    await eventually(lambda: outbox.writes > 0, 10, "doc0 due after 0.2 s")
    await asyncio.sleep(0.3)  # any other write of the relays would come now
    assert outbox.writes == 1  # doc0 alone: the others are not due for ten minutes
    left = {d["_id"]: [e["id"] for e in d["outbox"]] async for d in collection.find({})}
    assert left == {"doc0": [], "doc1": [entries["doc1"]["id"]], "doc2": [entries["doc2"]["id"]]}

    await asyncio.wait_for(late.drain(), 10)  # does not sleep until they are due
    assert outbox.writes == 2
    assert [d["outbox"] async for d in collection.find({})] == [[]] * 3


async def test_an_outage_burns_no_attempt_and_holds_the_message_until_the_probe(
    infra: Infra,
) -> None:
    """With a single attempt allowed, a handler failing on the database's outage twice still
    gets its message back, unchanged, and is not dead-lettered."""
    from pymongo.errors import AutoReconnect

    from shared.circuit import Outages

    outages = Outages()
    outages.mongodb.threshold = 2
    seen: list[tuple[int, bool, float]] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def needs_the_database(event: ConversionStarted, delivery: Delivery) -> None:
        seen.append((delivery.attempt, delivery.redelivered, loop.time()))
        if len(seen) <= 2:
            raise AutoReconnect("connection refused")
        done.set()

    queue = _queue()
    sub = Subscription(
        infra.broker, queue, {ConversionStarted: needs_the_database}, max_attempts=1,
        outages=outages,
    )  # fmt: skip
    await sub.start()
    await infra.broker.publish(encode(ConversionStarted(tenant_id="t", job_id="j"), "/test"))
    await asyncio.wait_for(done.wait(), 20)
    await sub.stop()
    assert [(attempt, redelivered) for attempt, redelivered, _ in seen] == [
        (1, False),
        (1, True),
        (1, True),
    ]
    # the second failure opened the circuit: the message waited out the pause before the probe
    assert seen[2][2] - seen[1][2] >= 0.9
    assert await _drain(infra, f"{queue}.dlq", timeout=1) == []


async def test_an_outage_while_recording_a_dead_letter_holds_the_message(infra: Infra) -> None:
    """Giving up records the failure (``on_dead``) first. When that write meets the
    database's outage the message is held and comes back, rather than left unacknowledged
    (where no consumer would see it again): once the database answers, the failure is
    recorded and the message dead-lettered."""
    from pymongo.errors import AutoReconnect

    from shared.circuit import Outages

    outages = Outages()
    outages.mongodb.threshold = 1
    recorded: list[str] = []
    tries = 0

    async def broken(event: ConversionStarted, delivery: Delivery) -> None:
        raise PermanentError("bad data")

    async def on_dead(event: ConversionStarted, reason: str) -> None:  # type: ignore[override]
        nonlocal tries
        tries += 1
        if tries == 1:
            raise AutoReconnect("connection refused")
        recorded.append(event.job_id)

    queue = _queue()
    sub = Subscription(
        infra.broker, queue, {ConversionStarted: broken}, max_attempts=1,
        on_dead=on_dead, outages=outages,  # type: ignore[arg-type]
    )  # fmt: skip
    await sub.start()
    await infra.broker.publish(encode(ConversionStarted(tenant_id="t", job_id="j7"), "/test"))
    letters = await _drain(infra, f"{queue}.dlq", timeout=20)
    await sub.stop()
    assert (tries, recorded) == (2, ["j7"])
    assert len(letters) == 1


async def test_a_failure_to_record_a_dead_letter_still_dead_letters(infra: Infra) -> None:
    """An ``on_dead`` failing for another reason is logged; the message is dead-lettered
    all the same (an operator can replay it), never left unacknowledged."""

    async def broken(event: ConversionStarted, delivery: Delivery) -> None:
        raise PermanentError("bad data")

    async def on_dead(event: ConversionStarted, reason: str) -> None:  # type: ignore[override]
        raise RuntimeError("cannot record")

    queue = _queue()
    sub = Subscription(
        infra.broker, queue, {ConversionStarted: broken}, max_attempts=1, on_dead=on_dead,  # type: ignore[arg-type]
    )  # fmt: skip
    await sub.start()
    await infra.broker.publish(encode(ConversionStarted(tenant_id="t", job_id="j8"), "/test"))
    letters = await _drain(infra, f"{queue}.dlq", timeout=10)
    await sub.stop()
    assert len(letters) == 1
