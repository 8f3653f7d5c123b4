"""A process starting up waits for the database beyond the short selection timeout that keeps
its requests fast during an outage (shared/mongo.py, ``reachable``)."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import ServerSelectionTimeoutError
from structlog.testing import capture_logs

from shared.mongo import WAITING_LOG_EVERY_S, connect, reachable
from shared.settings import InfraSettings
from tests.support.faultproxy import FaultProxy

Client = AsyncMongoClient[dict[str, Any]]


@pytest.fixture
async def cut_off(infra_settings: InfraSettings) -> AsyncIterator[tuple[FaultProxy, Client]]:
    """A client of the test database through a proxy that is cut: no server answers yet."""
    port = urlsplit(infra_settings.mongodb_url).port or 27017
    proxy = FaultProxy(port).start()
    try:
        proxy.cut()
        url = infra_settings.mongodb_url.replace(f":{port}/", f":{proxy.port}/")
        client = connect(infra_settings.model_copy(update={"mongodb_url": url}))
        yield proxy, client
        await client.close()
    finally:
        proxy.stop()


async def test_start_up_waits_for_a_database_that_answers_late(
    cut_off: tuple[FaultProxy, Client], infra_settings: InfraSettings
) -> None:
    proxy, client = cut_off
    waiting = asyncio.create_task(reachable(client, within_s=30))
    await asyncio.sleep(3 * infra_settings.mongodb_server_selection_timeout_ms / 1000)
    assert not waiting.done()  # past several selection timeouts, still waiting
    proxy.restore()
    await asyncio.wait_for(waiting, 20)
    assert (await client.admin.command("ping"))["ok"] == 1


async def test_start_up_gives_up_on_a_database_that_never_answers(
    cut_off: tuple[FaultProxy, Client],
) -> None:
    _, client = cut_off
    started = time.monotonic()
    with capture_logs() as lines, pytest.raises(ServerSelectionTimeoutError):
        await reachable(client, within_s=1.5)
    assert 1.5 <= time.monotonic() - started < 5
    # several selection timeouts went by, and the log says so once (then every few seconds)
    assert WAITING_LOG_EVERY_S > 1.5
    assert [line["event"] for line in lines] == ["mongodb.waiting"], lines
