"""An open event stream ends soon after its key is revoked, and re-checking the key costs one
database read per cache period for all the streams of that key together."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from bootstrap import free_port
from fastapi import FastAPI

from notifier.app import create_app
from notifier.settings import NotifierSettings
from shared.auth import ApiKeyRepository
from shared.settings import InfraSettings
from tests.support.notifier import eventually

CACHE_S = 0.3
STREAMS = 3


class CountingKeys(ApiKeyRepository):
    reads = 0

    async def find_active(self, key: str) -> dict[str, Any] | None:
        self.reads += 1
        return await super().find_active(key)


@contextlib.asynccontextmanager
async def _served(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started or task.done(), 30, "the notifier API started")
        assert not task.done(), "the notifier API did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)


async def _read_until_closed(client: httpx.AsyncClient, url: str, key: str) -> float:
    """Reads the stream to its end; when it ended (monotonic)."""
    headers = {"Authorization": f"Bearer {key}"}
    async with client.stream("GET", f"{url}/v1/events/stream", headers=headers) as response:
        assert response.status_code == 200
        async for _ in response.aiter_raw():
            pass
    return time.monotonic()


async def test_a_revoked_keys_open_streams_end_within_the_recheck_period(
    infra_settings: InfraSettings,
) -> None:
    settings = infra_settings.model_copy(update={"api_key_cache_seconds": CACHE_S})
    app = create_app(settings, NotifierSettings(heartbeat_s=0.5))
    async with _served(app) as url, httpx.AsyncClient(timeout=30) as client:
        counting = CountingKeys(app.state.infra.db)
        key_id, key = await counting.create("acme")
        app.state.api_keys.repository = counting
        streams = [
            asyncio.create_task(_read_until_closed(client, url, key)) for _ in range(STREAMS)
        ]
        await asyncio.sleep(10 * CACHE_S)
        assert not any(stream.done() for stream in streams)
        # one read per period for all three (plus the first look-up), not one per stream
        assert counting.reads <= 10 + 2, counting.reads
        assert await counting.revoke(key_id)
        revoked_at = time.monotonic()
        ended = await asyncio.wait_for(asyncio.gather(*streams), 10)
        assert max(ended) - revoked_at < 10 * CACHE_S, [e - revoked_at for e in ended]
        _, other = await counting.create("acme")
        assert (await client.get(f"{url}/v1/webhooks", headers=_bearer(other))).status_code == 200
        assert (await client.get(f"{url}/v1/webhooks", headers=_bearer(key))).status_code == 401


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
