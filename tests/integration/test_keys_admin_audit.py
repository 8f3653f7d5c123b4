"""Every admin route of every API leaves an ``admin.audit`` line: the routes are listed from
the apps themselves, so a new admin route without an audit fails here."""

import inspect
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

import httpx
import pytest
import structlog
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from boleto_sync.app import create_app as boleto_app
from notifier.app import create_app as notifier_app
from shared.settings import InfraSettings
from upload.app import create_app as upload_app

TENANT_KEY = f"sk_tenant_{uuid.uuid4().hex}"
ADMIN_KEY = f"sk_admin_{uuid.uuid4().hex}"
APPS: dict[str, Callable[[InfraSettings], FastAPI]] = {
    "upload": lambda settings: upload_app(settings),
    "boleto-sync": lambda settings: boleto_app(settings),
    "notifier": lambda settings: notifier_app(settings),
}
# what every API serves under /v1/admin today (more may come; fewer would be a lost route)
KNOWN = {
    "upload": {"/v1/admin/api-keys", "/v1/admin/queues", "/v1/admin/conversions/summary"},
    "boleto-sync": {"/v1/admin/rate-limit/stats", "/v1/admin/jobs/summary"},
    "notifier": set(),
}


def _admin_operations(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every admin operation, from the app's own OpenAPI document."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1/admin")
        for method in operations
    ]


def _endpoints(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI keeps included routers
        if included is not None:
            yield from _endpoints(included.routes)


@pytest.fixture(params=sorted(APPS))
async def api(
    request: pytest.FixtureRequest, infra_settings: InfraSettings
) -> AsyncIterator[tuple[str, FastAPI, httpx.AsyncClient]]:
    settings = infra_settings.model_copy(
        update={"dev_api_key": TENANT_KEY, "dev_admin_key": ADMIN_KEY}
    )
    app = APPS[request.param](settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api.test") as client,
    ):
        yield request.param, app, client


async def test_every_admin_route_audits_a_refused_key(
    api: tuple[str, FastAPI, httpx.AsyncClient],
) -> None:
    name, app, client = api
    operations = _admin_operations(app)
    assert KNOWN[name] <= {path for _, path in operations}
    for method, path in operations:
        url = re.sub(r"\{[^}]+\}", "x", path)
        with structlog.testing.capture_logs() as logged:
            response = await client.request(
                method, url, headers={"Authorization": f"Bearer {TENANT_KEY}"}, json={}
            )
        assert response.status_code == 403, (method, path, response.text)
        audits = [line for line in logged if line.get("event") == "admin.audit"]
        assert [a["result"] for a in audits] == ["forbidden"], (method, path, logged)


async def test_every_admin_route_audits_what_it_does(
    api: tuple[str, FastAPI, httpx.AsyncClient],
) -> None:
    """The action an admin route names for its refusals is the one it audits when it runs."""
    app = api[1]
    routes = {
        (method, route.path): route
        for route in _endpoints(app.routes)
        for method in route.methods
        if route.path.startswith("/v1/admin")
    }
    assert set(routes) == set(_admin_operations(app))
    for (method, path), route in routes.items():
        source = inspect.getsource(route.endpoint)
        named = re.search(r'admin_key\(\s*"([^"]+)"\s*\)', source)
        assert named, f"{method} {path} does not take its key through admin_key(action)"
        action = re.escape(named[1])
        audited = rf'audited\(\s*\w+,\s*"{action}"|audit\(\s*\w+,\s*"{action}"'
        assert re.search(audited, source), f"{method} {path} never audits {named[1]}"
