"""Integration fixtures: real RabbitMQ, SecantusDB and storage; a database per test."""

import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from shared.bootstrap import Infra
from shared.messaging.broker import Broker
from shared.settings import InfraSettings
from tests.support.infra import Components, components


@pytest.fixture(scope="session")
def real_components(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    with components(tmp_path_factory.mktemp("components")) as parts:
        yield parts


@pytest.fixture
def infra_settings(real_components: Components, tmp_path: Path) -> InfraSettings:
    return InfraSettings(
        environment="test",
        rabbitmq_url=real_components.rabbitmq_url,
        mongodb_url=real_components.mongodb_url,
        mongodb_db=f"t_{uuid.uuid4().hex[:12]}",
        events_exchange=f"events-{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path / "data",
        retry_base_delay_ms=100,
        max_delivery_attempts=3,
    )


@pytest.fixture
async def infra(infra_settings: InfraSettings) -> AsyncIterator[Infra]:
    opened = await Infra.open(infra_settings)
    try:
        yield opened
    finally:
        await opened.mongo.drop_database(infra_settings.mongodb_db)
        await opened.close()


@pytest.fixture(autouse=True)
async def delete_declared_queues(
    real_components: Components, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    """The quorum queues a test declared are deleted after it.

    The tests share one vhost, and a broker holds file handles for every quorum queue it
    has: left in place, the queues of a few hundred tests would exhaust them.
    """
    declared: list[str] = []
    original = Broker.declare_consumer_queue

    async def declare(
        self: Broker, channel: Any, queue: str, routing_keys: Iterable[str], delays_ms: list[int]
    ) -> aio_pika.abc.AbstractQueue:
        declared.extend([queue, f"{queue}.dlq", *(f"{queue}.retry.{d}ms" for d in delays_ms)])
        return await original(self, channel, queue, routing_keys, delays_ms)

    monkeypatch.setattr(Broker, "declare_consumer_queue", declare)
    yield
    if not declared:
        return
    connection = await aio_pika.connect(real_components.rabbitmq_url)
    try:
        channel = await connection.channel()
        for name in dict.fromkeys(declared):
            await channel.queue_delete(name)
    finally:
        await connection.close()
