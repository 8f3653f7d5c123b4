"""Round trips every job waits on in sequence: database operations, confirmed publishes, fsync."""

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aio_pika
import pymongo

from bench.stats import percentile

SAMPLES = 200
FSYNC_BYTES = 64 * 1024
LABELS = {
    "db_write": "SecantusDB update_one (upsert by _id)",
    "db_read": "SecantusDB find_one by _id",
    "publish": "RabbitMQ persistent publish to a quorum queue, until confirmed",
    "fsync": f"write + fsync of a {FSYNC_BYTES // 1024} KB file in the data folder",
}
# What one job waits on in sequence from POST to its completed status (read from the code):
# upload API: source fsync, reuse pointer read, insert, publish and the pointer's write (the
# outbox is cleared later, for many jobs at once); converter: started publish, result fsync,
# outcome insert, completed publish; upload worker: status update, then its notice to the API
# replicas, which apply it to the job they hold (no read)
PER_JOB = {"db_read": 1, "db_write": 4, "publish": 4, "fsync": 2}


def p50_ms(operation: Callable[[int], object], samples: int = SAMPLES) -> float:
    times = []
    for index in range(samples):
        started = time.perf_counter()
        operation(index)
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50)


def database(monitor: pymongo.MongoClient[dict[str, Any]]) -> dict[str, float]:
    scratch = monitor["bench_probe"]["round_trips"]
    figures = {
        "db_write": p50_ms(
            lambda i: scratch.update_one({"_id": i}, {"$set": {"n": i}}, upsert=True)
        ),
        "db_read": p50_ms(lambda i: scratch.find_one({"_id": i})),
    }
    monitor.drop_database("bench_probe")
    return figures


def confirmed_publish(amqp_url: str) -> dict[str, float]:
    return {"publish": asyncio.run(_publish(amqp_url))}


async def _publish(amqp_url: str) -> float:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(
            "bench.probe", durable=True, arguments={"x-queue-type": "quorum"}
        )
        times = []
        for index in range(SAMPLES):
            message = aio_pika.Message(
                str(index).encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            started = time.perf_counter()
            await channel.default_exchange.publish(message, routing_key=queue.name)
            times.append((time.perf_counter() - started) * 1000)
        await queue.delete(if_unused=False, if_empty=False)
    return percentile(times, 50)


def fsync(directory: Path) -> dict[str, float]:
    directory.mkdir(parents=True, exist_ok=True)
    payload = os.urandom(FSYNC_BYTES)

    def write(index: int) -> None:
        path = directory / f"probe-{index}"
        with path.open("wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()

    return {"fsync": p50_ms(write, 50)}


def sequential_ms(measured: dict[str, float]) -> float:
    """The round trips one job waits on in sequence, at the measured latencies."""
    return sum(count * measured.get(name, 0.0) for name, count in PER_JOB.items())
