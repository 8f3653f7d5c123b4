"""The platform's web page: static files served at ``/``, public (its calls carry the key)."""

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from shared.formats import TARGET_NAMES
from upload.settings import UploadSettings

STATIC = Path(__file__).parent / "static"
# no inline script or style anywhere: everything the page runs comes from its own files
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


def add_page(app: FastAPI, settings: UploadSettings) -> None:
    """``/`` (the page), ``/web/*`` (its script and style) and ``/web-config.json``."""

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=HEADERS)

    @app.get("/web-config.json", include_in_schema=False)
    async def config() -> JSONResponse:
        body: dict[str, Any] = {"targets": list(TARGET_NAMES)}
        return JSONResponse(body, headers=HEADERS)

    app.mount("/web", _Assets(directory=STATIC), name="web")
