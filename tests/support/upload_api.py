"""The upload API served in the test's own process, called through ASGI (no port)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from shared.settings import InfraSettings
from upload.app import create_app
from upload.settings import UploadSettings


@asynccontextmanager
async def served_upload_api(
    infra_settings: InfraSettings, upload: UploadSettings | None = None, **infra: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an upload API app whose lifespan runs meanwhile; ``infra`` overrides
    fields of ``infra_settings`` (e.g. ``dev_admin_key``)."""
    app = create_app(infra_settings.model_copy(update=infra), upload or UploadSettings())
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api.test", timeout=30) as client,
    ):
        yield client
