"""Integration fixtures: real RabbitMQ, SecantusDB and storage; a database per test."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shared.bootstrap import Infra
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
