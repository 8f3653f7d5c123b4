"""A process starting up waits for the database beyond the short selection timeout that keeps
its requests fast during an outage (shared/mongo.py, ``reachable``)."""

import asyncio
import time
from urllib.parse import urlsplit

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from shared.mongo import connect, reachable
from shared.settings import InfraSettings
from tests.support.faultproxy import FaultProxy


def _through(proxy: FaultProxy, settings: InfraSettings) -> InfraSettings:
    port = urlsplit(settings.mongodb_url).port
    url = settings.mongodb_url.replace(f":{port}/", f":{proxy.port}/")
    return settings.model_copy(update={"mongodb_url": url, "mongodb_heartbeat_ms": 500})


async def test_start_up_waits_for_a_database_that_answers_late(
    infra_settings: InfraSettings,
) -> None:
    proxy = FaultProxy(urlsplit(infra_settings.mongodb_url).port or 27017).start()
    try:
        proxy.cut()
        client = connect(_through(proxy, infra_settings))
        waiting = asyncio.create_task(reachable(client, within_s=30))
        await asyncio.sleep(3 * infra_settings.mongodb_server_selection_timeout_ms / 1000)
        assert not waiting.done()  # past several selection timeouts, still waiting
        proxy.restore()
        await asyncio.wait_for(waiting, 20)
        assert (await client.admin.command("ping"))["ok"] == 1
        await client.close()
    finally:
        proxy.stop()


async def test_start_up_gives_up_on_a_database_that_never_answers(
    infra_settings: InfraSettings,
) -> None:
    proxy = FaultProxy(urlsplit(infra_settings.mongodb_url).port or 27017).start()
    try:
        proxy.cut()
        client = connect(_through(proxy, infra_settings))
        started = time.monotonic()
        with pytest.raises(ServerSelectionTimeoutError):
            await reachable(client, within_s=1.5)
        assert 1.5 <= time.monotonic() - started < 5
        await client.close()
    finally:
        proxy.stop()
