"""Listening to the platform's events as an outside subscriber would: a queue of our own."""

import uuid
from collections import defaultdict

import aio_pika

Listener = tuple[aio_pika.abc.AbstractRobustConnection, dict[str, set[str]], dict[str, str]]


async def outcome_listener(amqp_url: str) -> Listener:
    """Which event ids announced each job's outcome, and the traceparent each outcome carried."""
    seen: dict[str, set[str]] = defaultdict(set)
    traces: dict[str, str] = {}
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("events", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(f"test-outcomes-{uuid.uuid4().hex[:6]}", exclusive=True)
    for key in ("conversion.completed.v1", "conversion.failed.v1"):
        await queue.bind(exchange, key)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            job_id = str(message.headers["ce-subject"])
            seen[job_id].add(str(message.headers["ce-id"]))
            traces[job_id] = str(message.headers.get("traceparent", ""))

    await queue.consume(on_message)
    return connection, seen, traces


async def captured_bodies(
    amqp_url: str, *routing_keys: str, exchange_name: str = "events"
) -> tuple[aio_pika.abc.AbstractRobustConnection, list[bytes]]:
    """Every message body published with one of ``routing_keys`` from now on."""
    bodies: list[bytes] = []
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(f"test-capture-{uuid.uuid4().hex[:6]}", exclusive=True)
    for key in routing_keys:
        await queue.bind(exchange, key)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            bodies.append(message.body)

    await queue.consume(on_message)
    return connection, bodies
