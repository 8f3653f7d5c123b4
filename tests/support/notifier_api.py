"""A notifier API replica served by uvicorn inside the test's loop (streams need a real
server: an in-process ASGI client reads a response only once it has ended)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from bootstrap import free_port

from notifier.app import create_app
from notifier.settings import NotifierSettings
from shared.settings import InfraSettings
from tests.support.notifier import eventually


@contextlib.asynccontextmanager
async def notifier_replica(
    infra_settings: InfraSettings, settings: NotifierSettings, api_key: str, port: int = 0
) -> AsyncIterator[str]:
    """One replica whose development key is ``api_key`` (on ``port``, or any free one); its
    base URL."""
    app = create_app(infra_settings.model_copy(update={"dev_api_key": api_key}), settings)
    port = port or free_port()
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
