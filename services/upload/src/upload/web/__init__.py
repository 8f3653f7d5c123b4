"""The platform's web page: static files served at ``/``, public (its calls carry the key)."""

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from shared.formats import TARGET_NAMES
from upload.settings import UploadSettings

STATIC = Path(__file__).parent / "static"
EVENTS_PATH = "/v1/events/stream"


def headers_of(settings: UploadSettings) -> dict[str, str]:
    """No inline script or style anywhere: everything the page runs comes from its own files.
    It connects to its own origin, and to the event stream's when that is elsewhere; its
    images are its own or ``blob:`` (the Pix QR code, fetched with the key)."""
    connect = " ".join(["'self'", *_origins(settings.web_events_url)])
    return {
        "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: blob:; connect-src {connect}; form-action 'none'; "
        "base-uri 'none'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def _origins(url: str | None) -> list[str]:
    parts = urlsplit(url or "")
    return [f"{parts.scheme}://{parts.netloc}"] if parts.scheme and parts.netloc else []


class _Assets(StaticFiles):
    def __init__(self, headers: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.headers = headers

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(self.headers)
        return response


def add_page(app: FastAPI, settings: UploadSettings) -> None:
    """``/`` (the page), ``/web/*`` (its scripts and style) and ``/web-config.json``."""
    headers = headers_of(settings)
    body: dict[str, Any] = {
        "targets": list(TARGET_NAMES),
        "events_url": settings.web_events_url or EVENTS_PATH,
        "sandbox_payments": bool(settings.sandbox_bank_url),
    }

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=headers)

    @app.get("/web-config.json", include_in_schema=False)
    async def config() -> JSONResponse:
        return JSONResponse(body, headers=headers)

    app.mount("/web", _Assets(headers, directory=STATIC), name="web")
